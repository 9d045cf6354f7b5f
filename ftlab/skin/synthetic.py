"""SYNTHETIC dermoscopy images: the seven HAM10000 diagnoses, drawn by a program.

Introduced in lesson 02 as the offline stand-in for DermaMNIST / HAM10000. **These are not
pictures of skin and say nothing about real patients**; every object and figure made from them
carries the word "synthetic". They exist so that the lesson's lessons about imbalance,
class weights, calibration and explanations can be run and checked without a download.

What the generator imitates:

* HAM10000's class imbalance (Tschandl et al. 2018): nv about two thirds of the images,
  df and vasc about 1 % each (:data:`ftlab.skin.classes.HAM10000_COUNTS`).
* The ABCD rule of dermoscopy (Stolz et al. 1994): melanomas tend to be **A**symmetric, with
  irregular **B**orders, several **C**olours (dark brown, black, blue-grey, red, white) and a
  large **D**iameter (> 6 mm); benign nevi are small, round, regular and one or two browns.
* A few textbook dermoscopic structures per diagnosis: pigment network and globules (nv, mel),
  blue-white veil (mel), milia-like cysts and fissures (bkl), arborising vessels and blue-grey
  ovoid nests (bcc), red base with white scale (akiec), a central white patch with a faint
  ring (df), red-purple lacunae (vasc).
* Atypical cases: a share of melanomas look like nevi and a share of nevi look dysplastic, so
  the classes overlap the way they do in practice and a classifier must weigh priors.
* Acquisition nuisances: skin tone (skewed light, as in HAM10000), hairs, the dark vignette of
  a dermoscope's field of view, colour casts of different devices.

Everything is NumPy + SciPy, reproducible from a seed, ~1–2 ms per 96-px image.

The drawing of one image (colours, per-diagnosis styles, :func:`render_lesion`) lives in
:mod:`ftlab.skin.drawing` and is re-exported here.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ftlab.skin.classes import DX_CODES, HAM10000_COUNTS, ham10000_proportions

# Re-exported: ftlab.skin.synthetic stays the one public address of the generator.
from ftlab.skin.drawing import (  # noqa: F401
    ATYPICAL_LOOKALIKE,
    ATYPICAL_SHARE,
    CLASS_STYLE,
    COLOURS,
    FIELD_OF_VIEW_MM,
    SKIN_RAMP,
    _blobs,
    _draw_curves,
    _lerp,
    _skin_colour,
    _smooth_noise,
    _upsampler,
    render_lesion,
)
from ftlab.splits import stratified_three_way

SYNTHETIC_TAG = "SYNTHETIC dermoscopy (ftlab generator; not real patients, not for diagnosis)"
GENERATOR_VERSION = 3


@dataclass
class SyntheticSkinData:
    """Synthetic dermoscopy images with labels and the generator's ground-truth attributes.

    Attributes:
        images: uint8 ``(n, size, size, 3)``.
        labels: int ``(n,)``, positions in ``codes``.
        codes: the seven dx codes (akiec, bcc, bkl, df, mel, nv, vasc).
        attributes: per-image arrays: ``asymmetry``, ``border``, ``n_colours``,
            ``diameter_mm``, ``skin_tone`` (0 light .. 1 dark), ``hair``, ``vignette``,
            ``atypical`` (drawn to look like another class).
        source: always :data:`SYNTHETIC_TAG`.
    """

    images: np.ndarray
    labels: np.ndarray
    codes: tuple = DX_CODES
    attributes: dict = field(default_factory=dict)
    source: str = SYNTHETIC_TAG

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=len(self.codes))
        parts = ", ".join(f"{c} {k}" for c, k in zip(self.codes, counts, strict=True))
        return f"SyntheticSkinData({len(self)} images {self.images.shape[1]} px; {parts}; {self.source})"


def class_counts(n: int, min_per_class: int = 0) -> dict[str, int]:
    """Split ``n`` images over the seven classes in HAM10000's proportions (largest remainder).

    Example:
        >>> class_counts(1000)
        {'akiec': 33, 'bcc': 51, 'bkl': 110, 'df': 11, 'mel': 111, 'nv': 670, 'vasc': 14}
    """
    proportions = ham10000_proportions()
    raw = {c: n * p for c, p in proportions.items()}
    counts = {c: max(int(np.floor(v)), min_per_class) for c, v in raw.items()}
    order = sorted(raw, key=lambda c: raw[c] - np.floor(raw[c]), reverse=True)
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts.values()) > n:  # min_per_class overshoot: take from the largest class
        counts["nv"] -= 1
    return counts



def make_synthetic_dermoscopy(n: int = 2000, image_size: int = 96, seed: int = 0, counts: dict | None = None,
                              skin_tone: float | None = None, min_per_class: int = 0) -> SyntheticSkinData:
    """Generate ``n`` SYNTHETIC dermoscopy images with HAM10000's class imbalance.

    Introduced in lesson 02 (offline mode).

    Args:
        n: number of images (ignored when ``counts`` is given).
        image_size: side in pixels.
        seed: the same seed gives the same images.
        counts: images per dx code, e.g. ``{"mel": 50, "nv": 50}``; default HAM10000 shares.
        skin_tone: fix every image's skin tone (0 light .. 1 dark); default draws one per image,
            skewed light like HAM10000.
        min_per_class: at least this many images of each class.

    Returns:
        :class:`SyntheticSkinData` (images, labels, codes, attributes, source).

    Example:
        >>> data = make_synthetic_dermoscopy(200, image_size=64, seed=1)
        >>> data.images.shape, int((data.labels == 5).sum())
        ((200, 64, 64, 3), 134)
    """
    counts = dict(counts) if counts is not None else class_counts(n, min_per_class)
    unknown = set(counts) - set(DX_CODES)
    if unknown:
        raise KeyError(f"unknown dx code(s) {sorted(unknown)}; known codes: {', '.join(DX_CODES)}")
    labels = np.concatenate([np.full(counts.get(c, 0), i) for i, c in enumerate(DX_CODES)]).astype(int)
    rng = np.random.default_rng(seed)
    labels = labels[rng.permutation(len(labels))]
    images = np.empty((len(labels), image_size, image_size, 3), dtype=np.uint8)
    rows = []
    for i, label in enumerate(labels):
        images[i], attrs = render_lesion(rng, DX_CODES[label], image_size, skin_tone=skin_tone)
        rows.append(attrs)
    attributes = {key: np.array([row[key] for row in rows]) for key in rows[0]} if rows else {}
    return SyntheticSkinData(images=images, labels=labels, attributes=attributes)


@dataclass
class SkinSplits:
    """Train / validation / test arrays of a skin-lesion data set, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    codes: tuple = DX_CODES
    source: str = SYNTHETIC_TAG
    attributes: dict = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return list(self.codes)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split."""
        k = len(self.codes)
        return {name: dict(zip(self.codes, np.bincount(y, minlength=k).tolist(), strict=True))
                for name, y in (("train", self.y_train), ("val", self.y_val), ("test", self.y_test))}

    def __repr__(self) -> str:
        size = self.x_train.shape[1] if self.x_train.ndim == 4 else "?"
        return (f"SkinSplits(train {len(self.y_train)}, val {len(self.y_val)}, test {len(self.y_test)}; "
                f"{size} px; {self.source})")


def _atomic_savez(path: Path, **arrays) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_synthetic_splits(n: int = 2000, image_size: int = 96, seed: int = 0, val_fraction: float = 0.2,
                          test_fraction: float = 0.2, cache: bool = True) -> SkinSplits:
    """SYNTHETIC dermoscopy data split into train / validation / test (stratified), disk-cached.

    Introduced in lesson 02: the offline data source. The cache lives in
    ``FTLAB_CACHE/skin/`` and is written atomically.

    Example:
        >>> splits = load_synthetic_splits(300, image_size=64)  # doctest: +SKIP
        >>> splits.counts()["train"]["nv"]  # doctest: +SKIP
        121
    """
    from ftlab import settings

    path = settings.cache_dir("skin") / f"synthetic-v{GENERATOR_VERSION}-n{n}-px{image_size}-seed{seed}.npz"
    data = None
    if cache and path.exists():
        try:
            with np.load(path) as stored:
                data = SyntheticSkinData(images=stored["images"], labels=stored["labels"],
                                         attributes={k[5:]: stored[k] for k in stored.files if k.startswith("attr_")})
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
            data = None
    if data is None:
        data = make_synthetic_dermoscopy(n, image_size=image_size, seed=seed, min_per_class=5)
        if cache:
            _atomic_savez(path, images=data.images, labels=data.labels,
                          **{f"attr_{k}": v for k, v in data.attributes.items()})
    train, val, test = stratified_three_way(data.labels, val_fraction, test_fraction, seed)
    return SkinSplits(
        x_train=data.images[train], y_train=data.labels[train], x_val=data.images[val], y_val=data.labels[val],
        x_test=data.images[test], y_test=data.labels[test], source=SYNTHETIC_TAG,
        attributes={split: {k: v[idx] for k, v in data.attributes.items()}
                    for split, idx in (("train", train), ("val", val), ("test", test))},
    )


def write_ham_folder(data: SyntheticSkinData, out_dir, image_format: str = "jpg") -> Path:
    """Write synthetic images as a HAM10000-style folder: ``images/`` + ``metadata.csv``.

    The CSV has HAM10000's columns ``lesion_id, image_id, dx`` plus ``dataset`` =
    ``ftlab-synthetic``; ids start with ``SYNTH_`` so they can never be mistaken for ISIC ones.
    Handy to try :func:`ftlab.skin.ham10000.load_ham_folder` and ``ftlab finetune --metadata``.

    Returns:
        the path of ``metadata.csv``.
    """
    import csv

    from PIL import Image

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "metadata.csv"
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lesion_id", "image_id", "dx", "dataset"])
        for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
            image_id = f"SYNTH_{i:07d}"
            Image.fromarray(image).save(out_dir / "images" / f"{image_id}.{image_format}")
            writer.writerow([f"SYNTH_LESION_{i:07d}", image_id, DX_CODES[label], "ftlab-synthetic"])
    os.replace(tmp, csv_path)
    return csv_path


__all__ = [
    "SYNTHETIC_TAG", "SyntheticSkinData", "SkinSplits", "class_counts", "render_lesion",
    "make_synthetic_dermoscopy", "load_synthetic_splits", "stratified_three_way", "write_ham_folder",
    "HAM10000_COUNTS",
]
