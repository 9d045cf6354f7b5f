"""Robust image-folder loading: decode anything sensible, skip (and say why) what is not.

Introduced in lesson 01 (your own photos), used again in lessons 02 and 04.

A folder of images "one sub-folder per class" (``DIR/cats/*.jpg``, ``DIR/dogs/*.png``) is the
most common way learners bring their own data. Real folders hold surprises: CMYK JPEGs,
16-bit PNGs, transparent PNGs, truncated downloads, ``.txt`` files renamed ``.jpg``, copies of
the same photo, notebook checkpoint folders. Everything here turns those into RGB ``uint8``
arrays, or into a skipped file with a one-line reason, and never stops at file 9,000.

Conventions:

* Colour: every image becomes RGB ``uint8``. Transparent pixels are composited **over white**
  (what a browser shows; dropping alpha would expose whatever colour the file stores under
  fully transparent pixels, often black). 16-bit images are scaled to 8 bits
  (``round(v * 255 / 65535)``), grayscale is repeated over 3 channels, CMYK/palette/YCbCr are
  converted by Pillow, and the EXIF orientation tag is applied (phone photos stand upright).
* Size: images smaller than :data:`MIN_SIDE` (8) pixels on a side are skipped as "too small":
  at 8 px nothing is left of a photo, and such files are usually icons or tracking pixels.
* Resizing (:func:`center_crop_resize`, used by every loader, ``ftlab finetune / evaluate /
  predict``, the feature cache and the lessons): the shorter side is resized to ``image_size``
  and the centre square is kept (Pillow's bilinear filter), so nothing is squashed: a cat stays
  cat-shaped. Only the ends of the longer side are lost, where photos rarely put the subject. Big JPEGs are first decoded at a reduced scale
  (Pillow ``draft``), never below the target size: much faster, visually the same.
* Pillow's global ``LOAD_TRUNCATED_IMAGES`` is never switched on: a truncated file is skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ftlab import settings, splits
from ftlab.cachefile import load_cached
from ftlab.errors import DataError

MIN_SIDE = 8
"""Images with a side shorter than this (in pixels) are skipped as "too small"."""

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
"""File name extensions treated as images (case-insensitive); other files are skipped."""

_IGNORED_NAMES = frozenset({"__MACOSX", "__pycache__", "Thumbs.db", "desktop.ini"})
_CACHE_VERSION = 3  # 3: centre crop (PREPROCESSING); 2 squashed whole photos to a square
_PROGRESS_MIN_FILES = 100
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


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES


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


# --------------------------------------------------------------------------------------------
# Scanning a folder


@dataclass
class FolderScan:
    """What is in an image folder (one sub-folder per class), before any training.

    Attributes:
        root: the folder.
        class_names: sorted names of the class sub-folders that hold at least one image.
        files: ``(path, label)`` for every image file; ``label`` indexes ``class_names``.
        skipped: ``(path, reason)`` for files that will not be used.
        duplicates: groups (lists of ≥ 2 paths) of files with identical bytes.
        empty_classes: class sub-folders without a single usable image (left out of
            ``class_names``).
        checked: whether every image was decoded (``scan_folder(check_images=True)``); if not,
            truncated or mislabelled files only show up when the folder is loaded.
    """

    root: Path
    class_names: list[str]
    files: list[tuple[Path, int]]
    skipped: list[tuple[Path, str]]
    duplicates: list[list[Path]]
    empty_classes: list[str] = field(default_factory=list)
    checked: bool = False

    def class_counts(self) -> dict[str, int]:
        """Number of image files per class, in ``class_names`` order."""
        counts = Counter(label for _, label in self.files)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def _relative(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def summary(self) -> str:
        """A readable table: images per class, skipped files with reasons, duplicate groups."""
        counts = self.class_counts()
        total = sum(counts.values())
        checked = "every file decoded" if self.checked else "files listed, not decoded"
        lines = [f"Image folder {self.root}: {len(self.class_names)} classes, {total} images ({checked})"]
        names = list(counts) + self.empty_classes
        width = max([len("class"), *(len(n) for n in names)])
        lines.append(f"  {'class':<{width}}  images")
        for name, count in counts.items():
            lines.append(f"  {name:<{width}}  {count:>6}")
        for name in self.empty_classes:
            lines.append(f"  {name:<{width}}  {0:>6}  (no usable images: left out)")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} file(s):")
            shown = [self._relative(p) for p, _ in self.skipped]
            pad = max(len(s) for s in shown)
            lines += [f"  {s:<{pad}}  {reason}" for s, (_, reason) in zip(shown, self.skipped, strict=True)]
        else:
            lines.append("Skipped files: none")
        if self.duplicates:
            lines.append(f"Duplicate groups (identical bytes): {len(self.duplicates)}")
            lines += ["  " + " = ".join(self._relative(p) for p in group) for group in self.duplicates]
        else:
            lines.append("Duplicates: none")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass
class _Listing:
    root: Path
    folder_names: list[str]  # every class sub-folder, sorted
    candidates: list[tuple[Path, str]]  # (image file, class folder name)
    skipped: list[tuple[Path, str]]


def _resolve_folder(path, what: str) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(
            f"{what} {root} does not exist: check the path (it should hold one sub-folder of images per class)"
        )
    if not root.is_dir():
        raise DataError(
            f"{what} {root} is a file, not a folder: pass the folder that holds one sub-folder of images per class"
        )
    return root


def _unique_folders(root: Path, class_dirs: list[Path], skipped: list) -> list[Path]:
    """Drop class folders that are symlinks back into the tree or to a folder already listed.

    A symlink to ``.`` (or to a folder above it, or to another class) would relabel another class's
    images; real folders win over symlinks to them, and each dropped folder is reported in ``skipped``.
    """
    real_root = root.resolve()
    seen: dict[Path, Path] = {}
    dropped = set()
    for class_dir in sorted(class_dirs, key=lambda d: (d.is_symlink(), d.name)):
        real = class_dir.resolve()
        if real == real_root or real in real_root.parents:
            skipped.append((class_dir, f"symlink loop: it points back to {real}; skipped, not used as a class"))
            dropped.add(class_dir)
        elif real in seen:
            skipped.append((class_dir, f"symlink to the class folder {seen[real]}, already used; skipped"))
            dropped.add(class_dir)
        else:
            seen[real] = class_dir
    return [d for d in class_dirs if d not in dropped]


def _list_folder(path, what: str = "image folder") -> _Listing:
    """Find class sub-folders and image files (by extension); no decoding."""
    root = _resolve_folder(path, what)
    entries = sorted(root.iterdir(), key=lambda p: p.name)
    class_dirs = [e for e in entries if e.is_dir() and not _ignored(e.name)]
    loose = [e for e in entries if e.is_file() and not _ignored(e.name)]
    if not class_dirs:
        n_loose = sum(e.suffix.lower() in IMAGE_EXTENSIONS for e in loose)
        found = f" ({n_loose} images lie directly in it)" if n_loose else ""
        raise DataError(
            f"no class sub-folders in {what} {root}{found}: put each class's images in its own "
            f"sub-folder, e.g. {root / 'cats'} and {root / 'dogs'}"
        )
    candidates: list[tuple[Path, str]] = []
    skipped = [(e, "not inside a class sub-folder") for e in loose]
    class_dirs = _unique_folders(root, class_dirs, skipped)
    def unreadable(error: OSError) -> None:
        skipped.append((Path(error.filename), f"unreadable folder ({error.strerror or error}): its images are left out"))

    for class_dir in class_dirs:
        for folder, dirs, names in os.walk(class_dir, onerror=unreadable):
            dirs[:] = sorted(d for d in dirs if not _ignored(d))
            for name in sorted(names):
                if _ignored(name):
                    continue
                file = Path(folder) / name
                suffix = file.suffix.lower()
                if suffix in IMAGE_EXTENSIONS:
                    candidates.append((file, class_dir.name))
                else:
                    skipped.append((file, f"not an image file (extension {suffix or 'none'!r})"))
    return _Listing(root, [d.name for d in class_dirs], candidates, skipped)


def _class_requirements(root: Path, what: str, usable: list[str], empty: list[str], min_classes: int,
                        unreadable: set | frozenset = frozenset()) -> None:
    """Raise the right DataError when too few classes have usable images."""
    exts = ", ".join(sorted(IMAGE_EXTENSIONS))
    if not usable:
        raise DataError(
            f"no usable images in the class sub-folders of {what} {root} (looked for {exts}): "
            f"put image files in {root}/<class name>/"
        )
    if len(usable) < min_classes:
        cannot_read = [n for n in empty if root / n in unreadable]
        also = f" ({', '.join(repr(n) for n in empty if n not in cannot_read)} has no usable images)" if (
            set(empty) - set(cannot_read)) else ""
        if cannot_read:
            also += f" ({', '.join(repr(n) for n in cannot_read)} cannot be read: permission denied?)"
        raise DataError(
            f"image classification needs at least two class sub-folders, found only {usable[0]!r} in "
            f"{root}{also}: add a sub-folder of images for every other class"
        )


def _file_hash(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def scan_folder(path, check_images: bool = False, min_classes: int = 2, verbose: bool = False) -> FolderScan:
    """List an image folder (one sub-folder per class): classes, files, skipped files, duplicates.

    Introduced in lesson 01. Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``)
    and ``__MACOSX`` are ignored. Non-image files are listed in ``skipped`` with a reason;
    duplicates are found by hashing file contents.

    Args:
        path: the folder, laid out as ``path/<class name>/<image files>`` (nested folders inside
            a class folder count for that class).
        check_images: also decode every image (slower), so truncated, corrupt, mislabelled or
            too-small files land in ``skipped`` with their reason.
        min_classes: how many classes with images are required (2 for training; 1 is
            accepted for a validation or test folder).
        verbose: show a progress bar on stderr while checking many images.

    Returns:
        :class:`FolderScan`.

    Raises:
        DataError: the folder is missing or a file, has no class sub-folders, no images at
            all, or fewer than ``min_classes`` classes with images. The message names the
            folder and the fix.

    Example:
        >>> scan = ftlab.data.images.scan_folder("my_photos")  # doctest: +SKIP
        >>> scan.class_names, scan.class_counts()
        (['cats', 'dogs'], {'cats': 40, 'dogs': 38})
    """
    listing = _list_folder(path)
    root = listing.root
    skipped = list(listing.skipped)
    kept: list[tuple[Path, str]] = []
    by_hash: dict[str, list[Path]] = {}
    progress = _progress(len(listing.candidates), "checking images", verbose and check_images)
    for file, class_name in listing.candidates:
        progress.update()
        try:
            data = file.read_bytes()
        except OSError as error:
            skipped.append((file, f"cannot read the file ({error.strerror or error})"))
            continue
        by_hash.setdefault(_file_hash(data), []).append(file)
        if check_images:
            try:
                _open_rgb(io.BytesIO(data), file, draft_size=32)
            except ImageDecodeError as error:
                skipped.append((file, error.reason))
                continue
        kept.append((file, class_name))
    progress.close()
    counts = Counter(name for _, name in kept)
    class_names = [name for name in listing.folder_names if counts[name]]
    empty = [name for name in listing.folder_names if not counts[name]]
    unreadable = {path for path, reason in skipped if reason.startswith("unreadable folder")}
    _class_requirements(root, "image folder", class_names, empty, min_classes, unreadable)
    index = {name: i for i, name in enumerate(class_names)}
    duplicates = [group for group in by_hash.values() if len(group) > 1]
    return FolderScan(
        root=root,
        class_names=class_names,
        files=[(file, index[name]) for file, name in kept],
        skipped=skipped,
        duplicates=duplicates,
        empty_classes=empty,
        checked=check_images,
    )


def inspect_folder(path, check_images: bool = True, verbose: bool = True) -> FolderScan:
    """Print what an image folder holds: images per class, skipped files and why, duplicates.

    Introduced in lesson 01: look at your data before you train on it.

    Args:
        path: the folder (``path/<class name>/<images>``).
        check_images: decode every image to find truncated or mislabelled files (default).
        verbose: progress bar on stderr while checking many images.

    Returns:
        The :class:`FolderScan` it printed.

    Example:
        >>> scan = ftlab.data.images.inspect_folder("my_photos")  # doctest: +SKIP
        Image folder my_photos: 2 classes, 78 images (every file decoded)
          class  images
          cats       40
          dogs       38
        Skipped 1 file(s):
          cats/broken.jpg  truncated or corrupt (image file is truncated)
        Duplicates: none
    """
    scan = scan_folder(path, check_images=check_images, verbose=verbose)
    print(scan.summary())
    return scan


# --------------------------------------------------------------------------------------------
# Loading a folder into arrays


def _progress(total: int, label: str, enabled: bool):
    """tqdm's one-line bar on stderr for ≥ ``_PROGRESS_MIN_FILES`` files (silent below, or when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="file", file=sys.stderr, mininterval=0.2,
                disable=not (enabled and total >= _PROGRESS_MIN_FILES))


@dataclass
class _Decoded:
    """One folder decoded: arrays plus what was dropped (what the disk cache holds)."""

    x: np.ndarray
    labels: list[str]  # class folder name per image
    paths: list[Path]
    hashes: list[str]
    skipped: list[tuple[Path, str]]
    cached: bool


def _select(candidates, max_per_class: int | None, seed: int):
    if max_per_class is None:
        return list(candidates)
    rng = np.random.default_rng(seed)
    per_class: dict[str, list[int]] = {}
    for i, (_, name) in enumerate(candidates):
        per_class.setdefault(name, []).append(i)
    keep = set()
    for indices in per_class.values():
        if len(indices) > max_per_class:
            indices = rng.choice(indices, size=max_per_class, replace=False).tolist()
        keep.update(indices)
    return [c for i, c in enumerate(candidates) if i in keep]


def _quick_hash(file: Path, stat) -> str:
    """A cheap content hash: size plus the first and last 64 KiB (the whole file when smaller)."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(stat.st_size).encode())
    with open(file, "rb") as handle:
        digest.update(handle.read(1 << 16))
        if stat.st_size > 1 << 17:
            handle.seek(-(1 << 16), os.SEEK_END)
            digest.update(handle.read())
    return digest.hexdigest()


def _cache_key(root: Path, candidates, image_size: int) -> str:
    """Key of a folder's decoded images: absolute paths, sizes, mtimes and a cheap content hash.

    The absolute path keeps two folders with equal names, sizes and times apart; the content hash
    catches a file rewritten with the same size and time.
    """
    entries = []
    for file, _ in candidates:
        absolute = str(file.absolute())
        try:
            stat = file.stat()
            entries.append([absolute, stat.st_size, stat.st_mtime_ns, _quick_hash(file, stat)])
        except OSError:
            entries.append([absolute, -1, -1, ""])
    blob = json.dumps([_CACHE_VERSION, PREPROCESSING, str(root.absolute()), image_size, sorted(entries)], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _read_cache(path: Path, root: Path) -> _Decoded | None:
    def read(npz):
        return _Decoded(
            x=npz["x"],
            labels=npz["labels"].tolist(),
            paths=[root / p for p in npz["paths"].tolist()],
            hashes=npz["hashes"].tolist(),
            skipped=[
                (root / p, r)
                for p, r in zip(npz["skipped_paths"].tolist(), npz["skipped_reasons"].tolist(), strict=True)
            ],
            cached=True,
        )

    return load_cached(path, read, "image cache file")


def _write_cache(path: Path, decoded: _Decoded, root: Path) -> None:
    def rel(paths):
        return np.array([p.relative_to(root).as_posix() for p in paths], dtype=str)

    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out,
                x=decoded.x,
                labels=np.array(decoded.labels, dtype=str),
                paths=rel(decoded.paths),
                hashes=np.array(decoded.hashes, dtype=str),
                skipped_paths=rel([p for p, _ in decoded.skipped]),
                skipped_reasons=np.array([r for _, r in decoded.skipped], dtype=str),
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is as readable as the files it came from
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _decode_all(candidates, image_size: int, verbose: bool) -> _Decoded:
    n = len(candidates)
    x = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    labels, paths, hashes, skipped = [], [], [], []
    seen: dict[str, Path] = {}
    progress = _progress(n, "decoding images", verbose)
    for file, class_name in candidates:
        progress.update()
        try:
            data = file.read_bytes()
        except OSError as error:
            skipped.append((file, f"cannot read the file ({error.strerror or error})"))
            continue
        digest = _file_hash(data)
        if digest in seen:
            skipped.append((file, f"duplicate of {seen[digest]} (identical bytes)"))
            continue
        try:
            img = _open_rgb(io.BytesIO(data), file, draft_size=image_size)
        except ImageDecodeError as error:
            skipped.append((file, error.reason))
            continue
        x[len(paths)] = center_crop_resize(img, image_size)
        seen[digest] = file
        labels.append(class_name)
        paths.append(file)
        hashes.append(digest)
    progress.close()
    return _Decoded(x[: len(paths)], labels, paths, hashes, skipped, cached=False)


def _load_folder(path, what, image_size, seed, cache, max_per_class, verbose):
    listing = _list_folder(path, what)
    root = listing.root
    candidates = _select(listing.candidates, max_per_class, seed)
    if not candidates:
        _class_requirements(root, what, [], listing.folder_names, 1)
    decoded = None
    cache_file = None
    if cache:
        cache_file = settings.cache_dir("images") / f"{_cache_key(root, candidates, image_size)}.npz"
        if cache_file.is_file():
            decoded = _read_cache(cache_file, root)
    if decoded is None:
        decoded = _decode_all(candidates, image_size, verbose)
        if cache_file is not None:
            _write_cache(cache_file, decoded, root)
    decoded.skipped = listing.skipped + decoded.skipped
    return listing, decoded


@dataclass(repr=False)
class ImageData:
    """Decoded, resized images split into training and validation sets.

    Attributes:
        x_train, x_val: ``uint8`` arrays of shape (N, size, size, 3), RGB.
        y_train, y_val: ``int32`` labels indexing ``class_names``.
        class_names: the training folder's classes (sorted sub-folder names with images).
        skipped: ``(path, reason)`` for every file or class folder that was left out.
        source: where the data came from, in words.
        train_paths, val_paths: the file behind each image.
        seed: seed of the split and of :meth:`train_dataset`'s shuffling.
        batch_size: default batch size of the ``tf.data`` pipelines.
        cached: whether the decoded images came from the disk cache.

    Example:
        >>> data = ftlab.data.load_image_folder("my_photos", image_size=224)  # doctest: +SKIP
        >>> model.fit(data.train_dataset(), validation_data=data.val_dataset())  # doctest: +SKIP
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    source: str = ""
    train_paths: list[Path] = field(default_factory=list)
    val_paths: list[Path] = field(default_factory=list)
    seed: int = 42
    batch_size: int = 32
    cached: bool = False

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(len(self.x_train))

    @property
    def n_val(self) -> int:
        """Number of validation images."""
        return int(len(self.x_val))

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.x_train.shape[1])

    def class_counts(self, split: str = "train") -> dict[str, int]:
        """Images per class in ``"train"``, ``"val"`` or ``"all"``, in ``class_names`` order.

        Example:
            >>> data.class_counts("val")  # doctest: +SKIP
            {'cats': 8, 'dogs': 8}
        """
        labels = {"train": self.y_train, "val": self.y_val}.get(split)
        if split == "all":
            labels = np.concatenate([self.y_train, self.y_val])
        if labels is None:
            raise ValueError(f"class_counts(split={split!r}): use 'train', 'val' or 'all'")
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=self.num_classes)
        return {name: int(counts[i]) for i, name in enumerate(self.class_names)}

    def _dataset(self, x, y, batch_size, shuffle, augment):
        import tensorflow as tf

        images = tf.convert_to_tensor(x)  # uint8: a quarter of float32's memory
        labels = tf.convert_to_tensor(np.asarray(y, dtype=np.int32))
        dataset = tf.data.Dataset.range(len(x))
        if shuffle:
            # Shuffle indices, not images: a full-size buffer costs 8 bytes per image.
            dataset = dataset.shuffle(len(x), seed=self.seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or self.batch_size).map(
            lambda idx: (tf.cast(tf.gather(images, idx), tf.float32), tf.gather(labels, idx)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if augment is not None:
            call = _augment_call(augment)
            dataset = dataset.map(lambda a, b: (call(a), b), num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def train_dataset(self, batch_size: int | None = None, shuffle: bool = True, augment=None):
        """Training images as a ``tf.data.Dataset`` of (float32 0..255 images, int32 labels) batches.

        Args:
            batch_size: images per batch (default: ``self.batch_size``, 32 unless set at load).
            shuffle: reshuffle every epoch (seeded with ``self.seed``).
            augment: optional augmentation applied to each float32 batch: a Keras layer or
                ``keras.Sequential`` (called with ``training=True``) or any function of the batch.

        Returns:
            a prefetched ``tf.data.Dataset``.
        """
        return self._dataset(self.x_train, self.y_train, batch_size, shuffle, augment)

    def val_dataset(self, batch_size: int | None = None):
        """Validation images as a ``tf.data.Dataset`` of (float32 0..255, int32) batches, in order.

        Raises:
            DataError: there are no validation images (``val_split=0`` and no ``val_dir``).
        """
        if self.n_val == 0:
            raise DataError(
                f"no validation images in {self.source or 'this data'}: load with val_split > 0 or val_dir=..."
            )
        return self._dataset(self.x_val, self.y_val, batch_size, False, None)

    def __repr__(self) -> str:
        return (
            f"ImageData({self.num_classes} classes {self.class_names}, {self.n_train} train / "
            f"{self.n_val} val at {self.image_size}×{self.image_size}, {len(self.skipped)} skipped, "
            f"source={self.source!r})"
        )


def _augment_call(augment):
    try:
        import keras

        if isinstance(augment, keras.layers.Layer):
            return lambda batch: augment(batch, training=True)
    except ImportError:
        pass
    return augment


def load_image_folder(
    path,
    image_size: int = 224,
    val_dir=None,
    val_split: float = 0.2,
    batch_size: int = 32,
    seed: int = 42,
    cache: bool = True,
    max_per_class: int | None = None,
    verbose: bool = True,
) -> ImageData:
    """Load a folder of images (one sub-folder per class) into training and validation arrays.

    Introduced in lesson 01 (bring your own photos). Every file is decoded once with the
    rules of :func:`decode_image`; files that fail are skipped and listed (with the reason)
    in ``.skipped``, exact duplicates are kept once, and class folders without a usable image
    are left out (and listed). Images are resized to ``image_size × image_size`` by
    :func:`center_crop_resize` (shorter side resized, centre square kept) and kept as ``uint8``.

    The decoded arrays are cached on disk (``ftlab.settings.cache_dir("images")``), keyed by
    the files' relative paths, sizes and modification times, ``image_size`` and
    :data:`PREPROCESSING`: a second
    load of an unchanged folder reads the cache instead of decoding.

    Args:
        path: training folder, ``path/<class name>/<images>``.
        image_size: side of the square output images in pixels.
        val_dir: a separate validation folder with the same layout; its classes must be
            classes of ``path``. Files identical to a training file are skipped (no leakage).
        val_split: when ``val_dir`` is None, the fraction of each class held out for
            validation (stratified, seeded; a class with ≥ 2 images keeps ≥ 1 for each side).
            ``0`` keeps everything for training.
        batch_size: default batch size of :meth:`ImageData.train_dataset` / ``val_dataset``.
        seed: seed of the split, of ``max_per_class`` sampling and of the shuffling.
        cache: read and write the decoded-image cache.
        max_per_class: keep at most this many files per class (a seeded random sample, taken
            before the split and before decoding; quick mode uses it).
        verbose: progress bar on stderr when decoding ≥ 100 files, and a one-line summary.

    Returns:
        :class:`ImageData`.

    Raises:
        DataError: a folder is missing or unusable (see :func:`scan_folder`), fewer than two
            classes have usable images, or ``val_dir`` has a class the training folder lacks.

    Example:
        >>> data = ftlab.data.load_image_folder("my_photos", image_size=160)  # doctest: +SKIP
        Loaded 78 images of 2 classes from my_photos: 62 train / 16 val at 160×160; 1 skipped
        >>> data.class_counts()  # doctest: +SKIP
        {'cats': 32, 'dogs': 30}
    """
    if int(image_size) < MIN_SIDE:
        raise ValueError(f"load_image_folder(image_size={image_size}): use at least {MIN_SIDE}")
    if not 0.0 <= float(val_split) < 1.0:
        raise ValueError(f"load_image_folder(val_split={val_split}): use a fraction in [0, 1)")
    if max_per_class is not None and int(max_per_class) < 1:
        raise ValueError(f"load_image_folder(max_per_class={max_per_class}): use None or a positive number")
    image_size = int(image_size)

    listing, train = _load_folder(
        path,
        "training folder" if val_dir else "image folder",
        image_size,
        seed,
        cache,
        max_per_class,
        verbose,
    )
    root = listing.root
    counts = Counter(train.labels)
    class_names = [name for name in listing.folder_names if counts[name]]
    empty = [name for name in listing.folder_names if not counts[name]]
    unreadable = {path for path, reason in train.skipped if reason.startswith("unreadable folder")}
    _class_requirements(root, "image folder", class_names, empty, 2, unreadable)
    skipped = list(train.skipped)
    skipped += [
        (root / name, "class folder is unreadable (permission denied?): class left out"
         if root / name in unreadable else "class folder has no usable images: class left out")
        for name in empty
    ]
    index = {name: i for i, name in enumerate(class_names)}
    y_all = np.array([index[name] for name in train.labels], dtype=np.int32)

    if val_dir is None:
        train_idx, val_idx = splits.stratified_split(y_all, float(val_split), seed)
        x_train, y_train = train.x[train_idx], y_all[train_idx]
        x_val, y_val = train.x[val_idx], y_all[val_idx]
        train_paths = [train.paths[i] for i in train_idx]
        val_paths = [train.paths[i] for i in val_idx]
        how = f"{float(val_split):.0%} of each class held out for validation (seed {seed})"
        cached = train.cached
    else:
        val_listing, val = _load_folder(
            val_dir, "validation folder", image_size, seed, cache, max_per_class, verbose
        )
        unknown = [name for name in val_listing.folder_names if name not in index]
        if unknown:
            raise DataError(
                f"validation folder {val_listing.root} has class sub-folder(s) "
                f"{', '.join(repr(n) for n in unknown)} that training folder {root} lacks "
                f"(training classes: {', '.join(class_names)}): rename or remove them"
            )
        train_hashes = dict(zip(train.hashes, train.paths, strict=True))
        keep = []
        skipped += val.skipped
        for i, digest in enumerate(val.hashes):
            if digest in train_hashes:
                skipped.append(
                    (val.paths[i], f"same bytes as training file {train_hashes[digest]}: left out")
                )
            else:
                keep.append(i)
        if not keep:
            raise DataError(
                f"no usable images in validation folder {val_listing.root}: put images in "
                f"{val_listing.root}/<class name>/ (see the skipped files)"
            )
        x_train, y_train, train_paths = train.x, y_all, list(train.paths)
        x_val = val.x[keep]
        y_val = np.array([index[val.labels[i]] for i in keep], dtype=np.int32)
        val_paths = [val.paths[i] for i in keep]
        how = f"validation folder {val_listing.root}"
        cached = train.cached and val.cached

    data = ImageData(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        class_names=class_names,
        skipped=skipped,
        source=f"image folder {root}; {how}",
        train_paths=train_paths,
        val_paths=val_paths,
        seed=seed,
        batch_size=int(batch_size),
        cached=cached,
    )
    if verbose:
        note = ", decoded images read from the cache" if cached else ""
        print(
            f"Loaded {data.n_train + data.n_val} images of {data.num_classes} classes from {root}: "
            f"{data.n_train} train / {data.n_val} val at {image_size}×{image_size}{note}; "
            f"{len(skipped)} skipped" + (" (see .skipped)" if skipped else "")
        )
    return data
