"""Data for the lessons: image folders (``ftlab.data.images``), sample photos (``ftlab.data.samples``).

``ftlab.data.images`` loads a folder and re-exports the pieces it is built from: ``decode``
(one image → RGB, the centre-crop resize), ``scan`` (listing and inspecting a folder) and
``imagedata`` (:class:`ImageData` and its ``tf.data`` pipelines).

Submodules load on first use (PEP 562), so ``import ftlab.data`` costs nothing. The image-folder
helpers are also reachable from here: ``ftlab.data.load_image_folder(...)`` is
``ftlab.data.images.load_image_folder(...)``.

Example:
    >>> import ftlab
    >>> data = ftlab.data.load_image_folder("my_photos", image_size=224)  # doctest: +SKIP
"""

from __future__ import annotations

import lazy_loader

# The image-folder helpers are re-exported from ftlab.data.images.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["catsdogs", "decode", "imagedata", "images", "samples", "scan"],
    submod_attrs={"images": ["FolderScan", "ImageData", "ImageDecodeError", "decode_image", "inspect_folder",
                             "load_image_folder", "scan_folder"]},
)
