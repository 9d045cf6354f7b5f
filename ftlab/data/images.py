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

This module loads a folder into arrays (:func:`load_image_folder`, the decoded-image cache) and
re-exports the rest, so ``ftlab.data.images.<name>`` reaches every helper: decoding and resizing
live in :mod:`ftlab.data.decode`, listing and inspection in :mod:`ftlab.data.scan`, and
:class:`ImageData` in :mod:`ftlab.data.imagedata`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ftlab import settings, splits
from ftlab.cachefile import load_cached

# Re-exported: this module stays the one public address of the image-folder helpers, and its
# loading code below looks _open_rgb and PREPROCESSING up here (tests monkeypatch them here).
from ftlab.data.decode import (  # noqa: F401
    _ALPHA_MODES,
    _SIXTEEN_BIT_MODES,
    MIN_SIDE,
    PREPROCESSING,
    ImageDecodeError,
    _open_rgb,
    _to_rgb,
    center_crop_resize,
    decode_image,
)
from ftlab.data.imagedata import ImageData, _augment_call  # noqa: F401
from ftlab.data.scan import (  # noqa: F401
    _IGNORED_NAMES,
    _PROGRESS_MIN_FILES,
    IMAGE_EXTENSIONS,
    FolderScan,
    _class_requirements,
    _file_hash,
    _ignored,
    _list_folder,
    _Listing,
    _progress,
    _resolve_folder,
    _unique_folders,
    inspect_folder,
    scan_folder,
)
from ftlab.errors import DataError

_CACHE_VERSION = 3  # 3: centre crop (PREPROCESSING); 2 squashed whole photos to a square


# --------------------------------------------------------------------------------------------
# Loading a folder into arrays


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
