"""What does a pretrained model see? ImageNet class names, top-k decoding, prediction.

Introduced in lesson 00. Works offline: the 1000 class names ship with ftlab
(``ftlab/assets/imagenet_classes.txt``, taken from keras-hub, see ``ftlab/assets/README.md``),
so nothing is downloaded, unlike ``keras.applications.imagenet_utils.decode_predictions``.

Example:
    >>> import ftlab
    >>> tops = ftlab.models.imagenet.predict_imagenet(["cat.jpg"])  # doctest: +SKIP
    >>> tops[0][0]  # doctest: +SKIP
    {'index': 285, 'name': 'Egyptian cat', 'probability': 0.79}
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from ftlab.errors import DataError, ModelError

CLASSES_PATH = Path(__file__).resolve().parent.parent / "assets" / "imagenet_classes.txt"
NUM_CLASSES = 1000


@functools.cache
def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, readable (``"Egyptian cat"``).

    The file stores WordNet-style names (``Egyptian_cat``); underscores become spaces here.
    Two names occur twice in ImageNet itself: ``crane`` (134 the bird, 517 the machine) and
    ``maillot`` (638, 639).

    Example:
        >>> imagenet_class_names()[285]
        'Egyptian cat'
    """
    try:
        lines = CLASSES_PATH.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ModelError(f"{CLASSES_PATH}: ImageNet class names not found; reinstall ftlab "
                         "or re-create it with `tools/convert_lite0.py classes`") from None
    if len(lines) != NUM_CLASSES:
        raise ModelError(f"{CLASSES_PATH}: expected {NUM_CLASSES} class names, found {len(lines)}; "
                         "reinstall ftlab or re-create it with `tools/convert_lite0.py classes`")
    return [line.replace("_", " ") for line in lines]


def decode_top_k(probs, top: int = 5) -> list[list[dict]]:
    """Turn ImageNet probabilities into the ``top`` most likely classes per image.

    Args:
        probs: ``(n, 1000)`` array of probabilities (or one ``(1000,)`` row).
        top: how many classes per image.

    Returns:
        one list per image of ``{"index", "name", "probability"}`` dicts, most likely first.

    Example:
        >>> p = np.zeros(1000); p[285] = 0.8; p[281] = 0.2
        >>> [d["name"] for d in decode_top_k(p, top=2)[0]]
        ['Egyptian cat', 'tabby']
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    if probs.ndim != 2 or probs.shape[-1] != NUM_CLASSES:
        raise ModelError(f"decode_top_k expects (n, {NUM_CLASSES}) ImageNet probabilities, got shape {probs.shape}")
    top = max(1, min(int(top), NUM_CLASSES))
    names = imagenet_class_names()
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :top]
    return [[{"index": int(i), "name": names[i], "probability": float(row[i])} for i in indices]
            for row, indices in zip(probs, order, strict=True)]


_models: dict = {}
_models_lock = threading.Lock()


def imagenet_model(image_size: int = 224):
    """The 1000-class EfficientNet-Lite0, built once per process and image size (~2 s), then reused."""
    with _models_lock:
        if image_size not in _models:
            from ftlab.models.lite0 import build_efficientnet_lite0

            _models[image_size] = build_efficientnet_lite0(image_size=image_size, include_top=True)
        return _models[image_size]


def _as_rgb(image) -> np.ndarray:
    """A path or an array → RGB uint8 (h, w, 3)."""
    if isinstance(image, str | Path):
        try:
            from ftlab.data.images import decode_image
        except ImportError:
            decode_image = None
        if decode_image is not None:
            return decode_image(image)
        from PIL import Image

        try:
            with Image.open(image) as img:
                return np.asarray(img.convert("RGB"))
        except (OSError, ValueError) as error:
            raise DataError(f"{image}: cannot read this image ({error}); check the file") from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise DataError(f"expected an image of shape (height, width, 3), got {array.shape}")
    array = array[..., :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and 0 < float(np.nanmax(array)) <= 1.0:
            raise DataError("this float image is in 0..1; ftlab models take 0..255: multiply it by 255")
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array


def resize_images(images, image_size: int = 224) -> np.ndarray:
    """Paths and/or arrays → float32 ``(n, image_size, image_size, 3)`` in 0..255.

    Each image goes through :func:`ftlab.data.images.center_crop_resize` (shorter side resized,
    centre square kept), the same resize ``ftlab.data.images.load_image_folder`` uses.
    """
    from ftlab.data.images import center_crop_resize

    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, str | Path) or (isinstance(images, np.ndarray) and images.ndim in (2, 3)):
        images = [images]
    batch = []
    for image in images:
        rgb = _as_rgb(image)
        if rgb.shape[:2] != (image_size, image_size):
            rgb = center_crop_resize(rgb, image_size)
        batch.append(rgb)
    if not batch:
        raise DataError("no images given")
    return np.stack(batch).astype(np.float32)


def predict_imagenet(images, top: int = 5, model=None, image_size: int = 224,
                     batch_size: int = 32) -> list[list[dict]]:
    """Classify photos into the 1000 ImageNet classes.

    Args:
        images: a file path, an RGB ``uint8`` array ``(h, w, 3)``, a batch ``(n, h, w, 3)``, or a
            list of paths/arrays (any sizes: each is resized to ``image_size``).
        top: classes to return per image.
        model: a Keras model mapping 0..255 images to 1000 probabilities; default: the bundled
            EfficientNet-Lite0, built on first use and kept for the rest of the session.
        image_size: input side for the default model (its ``input_shape`` for a given model).
        batch_size: images per forward pass.

    Returns:
        one list per image of ``{"index", "name", "probability"}``, most likely first.

    Example:
        >>> import skimage.data
        >>> predict_imagenet(skimage.data.chelsea(), top=1)[0][0]["name"]  # doctest: +SKIP
        'Egyptian cat'
    """
    if model is None:
        model = imagenet_model(image_size)
    elif model.input_shape[1] is not None:
        image_size = int(model.input_shape[1])
    batch = resize_images(images, image_size)
    # predict_on_batch runs a compiled graph: the first call traces it (~2 s), later calls are
    # ~30× faster than calling the model eagerly, and the model is cached for the session.
    probs = np.concatenate([np.asarray(model.predict_on_batch(batch[i:i + batch_size]))
                            for i in range(0, len(batch), batch_size)])
    if probs.shape[-1] != NUM_CLASSES:
        raise ModelError(f"model {model.name!r} outputs {probs.shape[-1]} classes, not ImageNet's {NUM_CLASSES}")
    return decode_top_k(probs, top=top)
