"""Listing and inspecting an image folder (one sub-folder per class) before any training.

Holds :func:`scan_folder`, :func:`inspect_folder`, :class:`FolderScan` and the listing helpers that
:func:`ftlab.data.images.load_image_folder` and :mod:`ftlab.video.reader` share (``ftlab.data.images``
re-exports them). Introduced in lesson 01 (look at your data before you train on it).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.data.decode import ImageDecodeError, _open_rgb
from ftlab.errors import DataError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
"""File name extensions treated as images (case-insensitive); other files are skipped."""

_IGNORED_NAMES = frozenset({"__MACOSX", "__pycache__", "Thumbs.db", "desktop.ini"})
_PROGRESS_MIN_FILES = 100


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES


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


def _progress(total: int, label: str, enabled: bool):
    """tqdm's one-line bar on stderr for ≥ ``_PROGRESS_MIN_FILES`` files (silent below, or when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="file", file=sys.stderr, mininterval=0.2,
                disable=not (enabled and total >= _PROGRESS_MIN_FILES))
