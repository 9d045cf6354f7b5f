"""Online data for lesson 04: a small public subset of UCF101, downloaded once and checksummed.

UCF101 (Soomro, Zamir & Shah, 2012, CRCV-TR-12-01; https://www.crcv.ucf.edu/data/UCF101.php) has
13,320 YouTube clips of 101 human actions. The full archive is 6.5 GB (RAR). This module uses the
10-class subset published on the Hugging Face Hub as ``sayakpaul/ucf101-subset`` (made with the
TensorFlow video tutorial's code; the data set card says Apache-2.0): 405 ``.avi`` clips,
320×240, split train 300 / val 30 / test 75 with no recording group (``gNN``) in two splits.

Facts about the archive, credited: the revision, size (171,386,880 bytes) and sha256 below were
recorded in several public projects that pin this file; it is an uncompressed POSIX tar despite
its ``.tar.gz`` name (Python's ``tarfile`` detects that by itself). The download goes through
:func:`ftlab.download.fetch`, so it happens once, is verified, and fails fast and clearly offline.
"""

from __future__ import annotations

from pathlib import Path

from ftlab.errors import DataError
from ftlab.video.reader import VideoClips, list_clip_files, load_clip_files

REVISION = "b9984b8d2a95e4a1879e1b071e9433858d0bc24a"
URL = f"https://huggingface.co/datasets/sayakpaul/ucf101-subset/resolve/{REVISION}/UCF101_subset.tar.gz"
MIRRORS = ("https://huggingface.co/datasets/sayakpaul/ucf101-subset/resolve/main/UCF101_subset.tar.gz",)
SHA256 = "e9fcc76af48d320be88c5265f2e0576ecd615956976f6ce4742fdf2b042b71eb"
SIZE_BYTES = 171_386_880
SPLITS = ("train", "val", "test")


def download_ucf101_subset(url: str = URL, sha256: str = SHA256, mirrors=MIRRORS) -> Path:
    """Download (once) and unpack the UCF101 subset; returns the folder holding ``train/ val/ test/``.

    Raises:
        OfflineError: offline and not in the cache.
        DownloadError: every URL failed or served another file.
        DataError: the archive unpacked, but without the expected split folders.

    Example:
        >>> root = download_ucf101_subset()  # doctest: +SKIP
        >>> sorted(p.name for p in root.iterdir())  # doctest: +SKIP
        ['test', 'train', 'val']
    """
    from ftlab.download import fetch

    folder = fetch(url, sha256, fname="UCF101_subset.tar.gz", cache_subdir="video", mirrors=tuple(mirrors),
                   extract=True, description=f"UCF101 subset, {SIZE_BYTES / 1e6:.0f} MB")
    return find_split_root(folder)


def find_split_root(folder) -> Path:
    """The folder (``folder`` or one below it) that holds ``train/`` and ``val/`` sub-folders."""
    folder = Path(folder)
    for candidate in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
        if (candidate / "train").is_dir() and (candidate / "val").is_dir():
            return candidate
    raise DataError(f"{folder}: no train/ and val/ folders inside; delete it so that ftlab downloads it again")


def load_ucf101_split(root, split: str = "train", num_frames: int = 8, size: int = 112, classes=None,
                      max_per_class: int | None = None, verbose: bool = False) -> VideoClips:
    """Read one split of the subset, optionally only some classes and a few clips per class.

    Args:
        root: from :func:`download_ucf101_subset`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        classes: class names to keep (default all, sorted).
        max_per_class: keep the first N clips (in file-name order) of each class.

    Returns:
        :class:`ftlab.video.reader.VideoClips` (class indices follow ``classes``).

    Example:
        >>> root = download_ucf101_subset()  # doctest: +SKIP
        >>> train = load_ucf101_split(root, "train", max_per_class=10)  # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    names, files = list_clip_files(Path(root) / split)
    keep = list(names if classes is None else classes)
    missing = sorted(set(keep) - set(names))
    if missing:
        raise DataError(f"{Path(root) / split}: no folder for class(es) {missing}; available: {names}")
    chosen, taken = [], dict.fromkeys(keep, 0)
    for file, label in files:
        name = names[label]
        if name in taken and (max_per_class is None or taken[name] < max_per_class):
            taken[name] += 1
            chosen.append((file, keep.index(name)))
    return load_clip_files(chosen, keep, num_frames, size, verbose=verbose, where=str(Path(root) / split))
