"""Data for the lessons: image folders (``ftlab.data.images``), sample photos (``ftlab.data.samples``).

Submodules load on first use (PEP 562), so ``import ftlab.data`` costs nothing. The image-folder
helpers are also reachable from here: ``ftlab.data.load_image_folder(...)`` is
``ftlab.data.images.load_image_folder(...)``.

Example:
    >>> import ftlab
    >>> data = ftlab.data.load_image_folder("my_photos", image_size=224)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

# Names re-exported from ftlab.data.images.
_IMAGE_NAMES = {
    "FolderScan",
    "ImageData",
    "ImageDecodeError",
    "decode_image",
    "inspect_folder",
    "load_image_folder",
    "scan_folder",
}

__all__ = sorted(_IMAGE_NAMES | {"images", "samples"})


def __getattr__(name: str):
    """Import ``ftlab.data.<name>`` or an ``images`` helper on first use."""
    if name in _IMAGE_NAMES:
        value = getattr(importlib.import_module("ftlab.data.images"), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            module = importlib.import_module(f"ftlab.data.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"ftlab.data.{name}":
                raise
        else:
            globals()[name] = module
            return module
    raise AttributeError(f"module 'ftlab.data' has no attribute {name!r}")
