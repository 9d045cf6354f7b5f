"""DermaMNIST: 10,015 HAM10000 dermoscopy images, small and ready to use (online mode of lesson 02).

DermaMNIST is part of MedMNIST (Yang et al., "MedMNIST v2 – A large-scale lightweight benchmark
for 2D and 3D biomedical image classification", Scientific Data 10, 41, 2023); MedMNIST+ (v3)
adds 64, 128 and 224 px versions. It is derived from HAM10000 (Tschandl et al. 2018) and split
7:1:2 into train (7,007), val (1,003) and test (2,005). Labels 0..6 are akiec, bcc, bkl, df,
mel, nv, vasc (:data:`ftlab.skin.classes.DX_CODES`).

Licence: MedMNIST v2's ``medmnist/info.py`` lists DermaMNIST as CC BY 4.0, while medmnist 3.x
lists CC BY-NC 4.0 (HAM10000 itself is CC BY-NC 4.0). Treat it as **non-commercial** and cite
both MedMNIST and HAM10000.

Checksums: the MedMNIST authors publish **MD5** sums only (``medmnist/info.py``: ``MD5``,
``MD5_64``, ``MD5_128``, ``MD5_224``), no sha256. ftlab cannot compute a sha256 without the
files, so :func:`ftlab.download.fetch` checks the published MD5 (``md5=``); everything else is
the same as for every download: a temporary folder in the cache, the checksum, then an atomic
rename, and a one-line offline error that says where to put the file by hand.

The ``medmnist`` package is *not* used: it requires PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ftlab import download
from ftlab.download import md5_file
from ftlab.errors import DataError
from ftlab.skin.classes import DX_CODES
from ftlab.skin.synthetic import SkinSplits

# MedMNIST+ files on Zenodo (record 10519652) and their MD5 sums, from medmnist 3.x
# medmnist/info.py (MedMNIST/MedMNIST on GitHub, Apache-2.0 code; data CC BY(-NC) 4.0).
ZENODO_V3 = "https://zenodo.org/records/10519652/files"
ZENODO_V2 = "https://zenodo.org/record/6496656/files"  # MedMNIST v2: 28 px only, same file
# MedMNIST v2 record 10519195 (listed by the MedMNIST project): the 28 px file again, same MD5.
ZENODO_V2_MIRROR = "https://zenodo.org/records/10519195/files"
DERMAMNIST_FILES: dict[int, tuple[str, str]] = {
    28: ("dermamnist.npz", "0744692d530f8e62ec473284d019b0c7"),
    64: ("dermamnist_64.npz", "b70a2f5635c6199aeaa28c31d7202e1f"),
    128: ("dermamnist_128.npz", "2defd784463fa5243564e855ed717de1"),
    224: ("dermamnist_224.npz", "8974907d8e169bef5f5b96bc506ae45d"),
}
SPLIT_SIZES = {"train": 7007, "val": 1003, "test": 2005}
SOURCE = ("DermaMNIST {size} px (MedMNIST, Yang et al. 2023; from HAM10000, Tschandl et al. 2018; "
          "CC BY-NC 4.0) - real dermoscopy images")


def file_info(size: int = 64) -> dict:
    """URL(s), file name and MD5 of the DermaMNIST file for ``size`` px (28, 64, 128 or 224).

    Example:
        >>> file_info(64)["md5"]
        'b70a2f5635c6199aeaa28c31d7202e1f'
    """
    if size not in DERMAMNIST_FILES:
        raise DataError(f"DermaMNIST comes in {sorted(DERMAMNIST_FILES)} px, not {size}; pick one of those")
    fname, md5 = DERMAMNIST_FILES[size]
    urls = [f"{ZENODO_V3}/{fname}?download=1"]
    if size == 28:
        urls.append(f"{ZENODO_V2}/{fname}?download=1")
        urls.append(f"{ZENODO_V2_MIRROR}/{fname}?download=1")
    return {"fname": fname, "md5": md5, "urls": urls}


def fetch_dermamnist(size: int = 64) -> Path:
    """Download DermaMNIST at ``size`` px once (MD5-checked) and return the cached ``.npz``.

    Introduced in lesson 02 (online mode). 28 px is ~20 MB; 224 px is about 1 GB.

    Raises:
        OfflineError: offline and not cached (the message says where to put the file by hand).
        DownloadError: every URL failed or served a file with another MD5.
    """
    info = file_info(size)
    return download.fetch(
        info["urls"][0],
        md5=info["md5"],
        fname=info["fname"],
        mirrors=info["urls"][1:],
        description="DermaMNIST",
        offline_hint="the lesson's offline mode uses synthetic data",
    )


def _resize_all(images: np.ndarray, image_size: int) -> np.ndarray:
    from PIL import Image

    if images.shape[1:3] == (image_size, image_size):
        return images
    out = np.empty((len(images), image_size, image_size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.Resampling.BILINEAR))
    return out


def read_dermamnist_npz(path, image_size: int | None = None, max_per_split: int | None = None,
                        seed: int = 0) -> SkinSplits:
    """Read a DermaMNIST ``.npz`` (``train/val/test_images`` and ``_labels``) into :class:`SkinSplits`.

    Args:
        path: the ``.npz`` file.
        image_size: resize to this side (bilinear); None keeps the file's size.
        max_per_split: keep at most this many images per split (a stratified random subset),
            for quick runs.
        seed: seed of that subset.

    Raises:
        DataError: the file is not a DermaMNIST archive (it names the missing arrays and the fix).
    """
    path = Path(path)
    try:
        archive = np.load(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error}); delete it and download again") from None
    with archive:
        needed = [f"{split}_{kind}" for split in ("train", "val", "test") for kind in ("images", "labels")]
        missing = [key for key in needed if key not in archive.files]
        if missing:
            raise DataError(f"{path}: not a DermaMNIST file (missing arrays {missing}); "
                            "delete it and download again with ftlab.skin.dermamnist.fetch_dermamnist()")
        rng = np.random.default_rng(seed)
        arrays = {}
        for split in ("train", "val", "test"):
            x = archive[f"{split}_images"]
            y = np.asarray(archive[f"{split}_labels"]).reshape(-1).astype(int)
            if x.ndim != 4 or x.shape[-1] != 3 or len(x) != len(y):
                raise DataError(f"{path}: {split}_images has shape {x.shape} for {len(y)} labels; "
                                "expected (n, size, size, 3); delete it and download again")
            if y.size and (y.min() < 0 or y.max() >= len(DX_CODES)):
                raise DataError(f"{path}: {split}_labels outside 0..6; this is not DermaMNIST")
            if max_per_split is not None and len(y) > max_per_split:
                keep = _stratified_subset(y, max_per_split, rng)
                x, y = x[keep], y[keep]
            if image_size is not None:
                x = _resize_all(np.asarray(x, dtype=np.uint8), image_size)
            arrays[split] = (np.asarray(x, dtype=np.uint8), y)
    size = arrays["train"][0].shape[1]
    return SkinSplits(x_train=arrays["train"][0], y_train=arrays["train"][1], x_val=arrays["val"][0],
                      y_val=arrays["val"][1], x_test=arrays["test"][0], y_test=arrays["test"][1],
                      source=SOURCE.format(size=size))


def _stratified_subset(labels: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` indices keeping each class's share (at least one image of every class present)."""
    chosen = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        take = max(1, int(round(len(idx) * n / len(labels))))
        chosen.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return np.sort(np.concatenate(chosen))


def load_dermamnist(size: int = 64, image_size: int | None = None, path=None, max_per_split: int | None = None,
                    seed: int = 0) -> SkinSplits:
    """DermaMNIST train / val / test splits (downloaded once, MD5-checked) as :class:`SkinSplits`.

    Introduced in lesson 02 (online mode).

    Args:
        size: which release to use: 28, 64, 128 or 224 px (memory: 224 px needs ~1.5 GB).
        image_size: resize to this side for the backbone (None keeps ``size``).
        path: a local copy of the ``.npz`` instead of the download (its MD5 is checked).
        max_per_split: keep at most this many images per split (stratified), for quick runs.
        seed: seed of that subset.

    Example:
        >>> data = ftlab.skin.dermamnist.load_dermamnist(64, image_size=96)  # doctest: +SKIP
        >>> data.counts()["train"]["nv"]  # doctest: +SKIP
        4693
    """
    info = file_info(size)
    if path is None:
        path = fetch_dermamnist(size)
    else:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file; download {info['urls'][0]} or omit path= to download it")
        got = md5_file(path)
        if got != info["md5"]:
            raise DataError(f"{path}: MD5 {got} is not the published {info['md5']} of {info['fname']}; "
                            "the file is damaged or another release: download it again")
    return read_dermamnist_npz(path, image_size=image_size, max_per_split=max_per_split, seed=seed)
