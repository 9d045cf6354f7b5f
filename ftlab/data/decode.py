"""Decoding one image file into RGB ``uint8``, and the one resize every ftlab image goes through.

Holds :func:`decode_image`, :class:`ImageDecodeError`, :func:`center_crop_resize` and
:data:`PREPROCESSING` (the conventions are in :mod:`ftlab.data.images`, which re-exports them all).
Introduced in lesson 01, used by lessons 00, 02 and 04 (sample photos, HAM10000, video frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ftlab.errors import DataError

MIN_SIDE = 8
"""Images with a side shorter than this (in pixels) are skipped as "too small"."""

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageDecodeError(DataError):
    """A file that cannot be used as an image; ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use {self.path} as an image: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


# --------------------------------------------------------------------------------------------
# Decoding one image


def _to_rgb(img: Image.Image, path: Path, file_format: str | None) -> Image.Image:
    """Any Pillow mode → RGB (alpha over white, 16-bit scaled to 8-bit)."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in _SIXTEEN_BIT_MODES or mode == "I" or mode == "F":
        values = np.asarray(img)
        if mode == "F":
            peak = float(np.nanmax(values)) if values.size else 0.0
            scaled = np.nan_to_num(values) * (255.0 if peak <= 1.0 else 1.0)
            gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        elif mode == "I" and file_format != "PNG" and values.max(initial=0) <= 255:
            gray = np.clip(values, 0, 255).astype(np.uint8)  # 32-bit container, 8-bit values
        else:
            wide = np.clip(values.astype(np.int64), 0, 65535)
            gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    try:
        if mode in _ALPHA_MODES or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return img.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageDecodeError(path, f"unsupported colour mode {mode} ({error})") from error


def _open_rgb(source, path: Path, draft_size: int | None = None) -> Image.Image:
    """Decode ``source`` (a path or a binary file object) into an upright RGB Pillow image."""
    try:
        with Image.open(source) as img:
            width, height = img.size
            if min(width, height) < MIN_SIDE:
                raise ImageDecodeError(
                    path, f"too small ({width}×{height} px; ftlab needs at least {MIN_SIDE} px on each side)"
                )
            if draft_size and img.format == "JPEG":
                img.draft(img.mode, (draft_size, draft_size))
            img.load()
            upright = ImageOps.exif_transpose(img)
            return _to_rgb(upright, path, img.format)
    except ImageDecodeError:
        raise
    except FileNotFoundError as error:
        raise ImageDecodeError(path, "file not found") from error
    except UnidentifiedImageError as error:
        raise ImageDecodeError(path, "not an image (Pillow cannot identify the file format)") from error
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(path, f"too large to decode safely ({error})") from error
    except MemoryError:
        raise
    except Exception as error:  # any decoder failure is a property of this file, not a bug to stop for
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImageDecodeError(path, f"truncated or corrupt ({detail})") from error


def decode_image(path, draft_size: int | None = None) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array of shape (height, width, 3).

    Introduced in lesson 01. Handles JPEG/PNG/GIF/BMP/WebP/TIFF in any colour mode: alpha is
    composited over white, grayscale/palette/CMYK/16-bit become 8-bit RGB, EXIF orientation is
    applied. Files under :data:`MIN_SIDE` px on a side are refused as "too small".

    Args:
        path: the image file.
        draft_size: for JPEGs, let the decoder shrink the image by a power of two as long as
            both sides stay ≥ ``draft_size`` (much faster for big photos). ``None``: full size.

    Returns:
        ``np.ndarray`` of dtype ``uint8`` and shape (H, W, 3).

    Raises:
        ImageDecodeError: (a :class:`ftlab.errors.DataError`) with ``.path`` and ``.reason``
            (``"too small ..."``, ``"not an image ..."``, ``"truncated or corrupt ..."``, ...).

    Example:
        >>> rgb = ftlab.data.images.decode_image("cat.png")  # doctest: +SKIP
        >>> rgb.shape, rgb.dtype
        ((300, 451, 3), dtype('uint8'))
    """
    path = Path(path)
    return np.array(_open_rgb(path, path, draft_size), dtype=np.uint8)


PREPROCESSING = "shorter side resized, centre square cropped, bilinear"
"""How every image becomes a square backbone input (:func:`center_crop_resize`); caches key on it."""


def center_crop_resize(image, image_size: int) -> np.ndarray:
    """Resize the shorter side to ``image_size`` and keep the centre square: ``uint8 (s, s, 3)``.

    Introduced in lesson 01. The one resize every ftlab path uses (folder loaders, the HAM10000
    loader, ``ftlab finetune``/``evaluate``/``predict``, the reference photos of the lessons),
    so a model sees at prediction time exactly what it was trained on. The aspect ratio is kept
    (a 4:3 photo loses an eighth of its width at each end), unlike squashing the whole photo to
    a square. One Pillow call (a bilinear resize of the centre box) does both steps.

    Args:
        image: a Pillow image or an RGB ``uint8`` array ``(h, w, 3)``.
        image_size: side of the output square in pixels.

    Example:
        >>> center_crop_resize(np.zeros((300, 400, 3), np.uint8), 224).shape
        (224, 224, 3)
    """
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    if img.mode != "RGB":
        img = img.convert("RGB")
    width, height = img.size
    side = min(width, height)
    if width == height == image_size:
        return np.asarray(img, dtype=np.uint8)
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    return np.asarray(img.resize((image_size, image_size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)
