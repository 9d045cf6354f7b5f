"""Lesson 01's offline data set: "photo patches", labelled crops of real photographs.

Introduced in lesson 01. Offline there is no cats-vs-dogs download, but scikit-image ships a
handful of real photographs and textures with every install (a cat, an espresso, an astronaut,
a motorcycle, a rocket launch, brick, grass, gravel, coins, ...). Each class here is one such
photograph; its examples are random crops of it, each rotated, flipped, re-coloured and
re-lit differently. Telling the classes apart means recognising what a patch shows (fur,
foam, fabric, gravel, print, sky ...), not remembering pixels, because:

* training and validation crops come from *different parts* of each photograph (a 3×3
  checkerboard of regions: five for training, four for validation), so a model that memorised
  the training patches has not seen the validation ones;
* colour, brightness and contrast are jittered and some crops are turned grey, so the average
  colour of a patch is a weak clue;
* there are few examples per class (10 by default), the regime where training a network from
  scratch overfits and ImageNet features shine.

Why photographs and not synthetic shapes: ImageNet features are made for natural-image-like
content. Drawn shapes are easy for a small network trained from scratch, so they would not test the
lesson's central claim (pretrained features beat scratch on a few examples per class).

Sources, all shipped inside scikit-image (BSD-3-Clause) and credited in the docstrings of
``skimage.data``: chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0), astronaut
(NASA Great Images, no known copyright restrictions), stereo_motorcycle (Middlebury 2014 stereo data
set, Scharstein et al., GCPR 2014), rocket (SpaceX, released into the public domain),
hubble_deep_field (NASA/HubbleSite, public domain), immunohistochemistry (Center for Microscopy and
Molecular Imaging, no known copyright restrictions), brick and gravel (CC0Textures, CC0), grass
(linolafett on DeviantArt, CC0), coins (Brooklyn Museum collection, no known copyright
restrictions), camera (Lav Varshney, CC0).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ftlab.errors import DataError

GENERATOR_VERSION = 2

# class name -> (skimage.data function, one-line description). Order = label order.
SOURCES = {
    "cat": ("chelsea", "a tabby cat's face (fur, eyes, whiskers)"),
    "coffee": ("coffee", "an espresso cup on a wooden table"),
    "astronaut": ("astronaut", "an astronaut in an orange suit, a flag, a shuttle model"),
    "motorcycle": ("stereo_motorcycle", "a red motorcycle in a workshop"),
    "rocket": ("rocket", "a rocket on its launch pad at dusk"),
    "galaxies": ("hubble_deep_field", "the Hubble deep field (galaxies on black)"),
    "tissue": ("immunohistochemistry", "a stained tissue section under a microscope"),
    "brick": ("brick", "a brick wall (grey)"),
    "grass": ("grass", "a lawn (grey)"),
    "gravel": ("gravel", "gravel (grey)"),
    "coins": ("coins", "old coins on a dark cloth (grey)"),
    "cameraman": ("camera", "a man with a film camera on a tripod (grey)"),
}
DEFAULT_CLASSES = tuple(SOURCES)

# Checkerboard of a 3×3 grid: crop centres for training lie in these cells, validation in the rest.
_TRAIN_CELLS = ((0, 0), (0, 2), (1, 1), (2, 0), (2, 2))
_VAL_CELLS = ((0, 1), (1, 0), (1, 2), (2, 1))
# Crop side as a share of the photo's short side: small enough that a patch shows a part of
# the scene (an eye, a wheel, foam), not the whole photo.
_CROP_SCALE = (0.15, 0.38)


def list_classes() -> dict:
    """The available classes and what each photograph shows.

    Example:
        >>> list_classes()["cat"]
        "a tabby cat's face (fur, eyes, whiskers)"
    """
    return {name: description for name, (_, description) in SOURCES.items()}


def source_photo(name: str) -> np.ndarray:
    """The full photograph behind a class, as RGB uint8 ``(h, w, 3)`` (grey ones repeated ×3).

    Example:
        >>> source_photo("cat").shape
        (300, 451, 3)
    """
    import skimage.data

    if name not in SOURCES:
        raise DataError(f"photo_patches: unknown class {name!r}; choose from {', '.join(SOURCES)}")
    image = getattr(skimage.data, SOURCES[name][0])()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def _jitter_colour(patch: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast and saturation jitter, sometimes grey; float32 in, uint8 out."""
    x = patch.astype(np.float32)
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if rng.random() < 0.25 * strength:
        x = np.repeat(grey[..., None], 3, axis=-1)
    else:
        saturation = 1.0 + strength * rng.uniform(-0.5, 0.5)
        x = grey[..., None] + saturation * (x - grey[..., None])
    contrast = 1.0 + strength * rng.uniform(-0.35, 0.35)
    brightness = strength * rng.uniform(-40, 40)
    x = (x - x.mean()) * contrast + x.mean() + brightness
    return np.clip(x, 0, 255).astype(np.uint8)


def _crop(
    photo: np.ndarray, cell: tuple, image_size: int, rng: np.random.Generator, strength: float
) -> np.ndarray:
    """One random crop whose centre lies in ``cell`` of the 3×3 grid."""
    from PIL import Image

    height, width = photo.shape[:2]
    short = min(height, width)
    side = int(short * rng.uniform(*_CROP_SCALE))
    row, col = cell
    cy = rng.uniform(row / 3, (row + 1) / 3) * height
    cx = rng.uniform(col / 3, (col + 1) / 3) * width
    # Crop a larger square first so that rotating it leaves no empty corners.
    big = int(side * 1.45)
    top = int(np.clip(cy - big / 2, 0, height - big)) if height > big else 0
    left = int(np.clip(cx - big / 2, 0, width - big)) if width > big else 0
    region = Image.fromarray(photo[top : top + big, left : left + big])
    angle = float(rng.uniform(-25, 25)) * strength
    region = region.rotate(angle, resample=Image.BILINEAR)
    w, h = region.size
    side = min(side, w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    region = region.crop(box).resize((image_size, image_size), Image.BILINEAR)
    patch = np.asarray(region)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return _jitter_colour(patch, rng, strength)


def _generate(classes, per_class: int, cells, image_size: int, rng, strength: float):
    images = np.empty((len(classes) * per_class, image_size, image_size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(len(classes)), per_class).astype(np.int32)
    for label, name in enumerate(classes):
        photo = source_photo(name)
        for i in range(per_class):
            cell = cells[i % len(cells)]
            images[label * per_class + i] = _crop(photo, cell, image_size, rng, strength)
    return images, labels


def _cache_path(key: str) -> Path:
    from ftlab import settings

    return settings.cache_dir("offline_images") / f"photo_patches-{key}.npz"


def _atomic_savez(path: Path, **arrays) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def photo_patches(
    classes=None,
    train_per_class: int = 10,
    val_per_class: int = 20,
    image_size: int = 96,
    seed: int = 0,
    jitter: float = 1.0,
    cache: bool = True,
):
    """Lesson 01's offline labelled images: crops of real photographs, one class per photo.

    Training crops come from five cells of a 3×3 checkerboard over each photograph and
    validation crops from the other four, so validation shows parts of the scene the model
    never saw. Generation is deterministic for a given seed (about a second for 500 crops) and
    cached under ``FTLAB_CACHE/offline_images`` (atomic write).

    Args:
        classes: class names from :data:`SOURCES` (default: all 12), or an int ``k`` for the
            first ``k``.
        train_per_class: training crops per class (few on purpose: 8–16).
        val_per_class: validation crops per class.
        image_size: side of the square crops in pixels (96–128 keeps the lesson fast).
        seed: random seed of the crops and jitter.
        jitter: strength of rotation and colour jitter (0 = none, 1 = default).
        cache: read and write the cache.

    Returns:
        ``ftlab.data.images.ImageData`` with uint8 images ``(n, image_size, image_size, 3)``, int32 labels,
        ``class_names`` and ``source`` (a one-line description of where the data came from).

    Raises:
        DataError: unknown class names, fewer than two classes, or sizes out of range.

    Example:
        >>> data = photo_patches(classes=3, train_per_class=4, val_per_class=4, image_size=64)
        >>> data.x_train.shape, data.class_names
        ((12, 64, 64, 3), ['cat', 'coffee', 'astronaut'])
    """
    if classes is None:
        classes = list(DEFAULT_CLASSES)
    elif isinstance(classes, int):
        if not 2 <= classes <= len(SOURCES):
            raise DataError(f"photo_patches: classes={classes}; use 2..{len(SOURCES)} or a list of names")
        classes = list(DEFAULT_CLASSES[:classes])
    else:
        classes = list(classes)
    unknown = [name for name in classes if name not in SOURCES]
    if unknown:
        raise DataError(f"photo_patches: unknown class(es) {unknown}; choose from {', '.join(SOURCES)}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise DataError(f"photo_patches: need at least two distinct classes, got {classes}")
    if train_per_class < 1 or val_per_class < 1:
        raise DataError("photo_patches: train_per_class and val_per_class must be at least 1")
    if not 32 <= image_size <= 512:
        raise DataError(f"photo_patches: image_size={image_size}; use 32..512 pixels (96–128 recommended)")

    description = (
        f"offline: photo patches, {len(classes)} classes × {train_per_class} train / "
        f"{val_per_class} val crops of real photos from scikit-image, {image_size}px"
    )
    config = f"v{GENERATOR_VERSION}|{_CROP_SCALE}|{classes}|{train_per_class}|{val_per_class}|{image_size}|{seed}|{jitter}"
    key = hashlib.blake2b(config.encode(), digest_size=10).hexdigest()
    path = _cache_path(key) if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path) as stored:
                return _image_data(stored["x_train"], stored["y_train"], stored["x_val"], stored["y_val"],
                                   classes, description, seed)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)

    rng = np.random.default_rng(seed)
    x_train, y_train = _generate(classes, train_per_class, _TRAIN_CELLS, image_size, rng, jitter)
    x_val, y_val = _generate(classes, val_per_class, _VAL_CELLS, image_size, rng, jitter)
    if path is not None:
        _atomic_savez(path, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    return _image_data(x_train, y_train, x_val, y_val, classes, description, seed)


def _image_data(x_train, y_train, x_val, y_val, classes, description, seed):
    from ftlab.data.images import ImageData

    return ImageData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, class_names=list(classes),
                     skipped=[], source=description, seed=seed)
