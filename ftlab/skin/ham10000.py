"""A folder of dermoscopy images plus a HAM10000-style metadata CSV.

Introduced in lesson 02 for learners who have the real HAM10000 archive (Tschandl et al. 2018;
ISIC archive / Harvard Dataverse, CC BY-NC 4.0) or their own images labelled the same way.

The CSV needs the columns ``image_id`` and ``dx`` (one of akiec, bcc, bkl, df, mel, nv, vasc);
``lesion_id`` is optional but important: HAM10000 has several images of many lesions, and a
lesion whose pictures land in both training and validation makes the validation score a memory
test. With ``lesion_id`` the split keeps every lesion on one side.

Images are found by file stem anywhere under the image folder (HAM10000 ships them in
``HAM10000_images_part_1/`` and ``_part_2/``), any common image extension.

Nothing in a messy CSV or folder crashes the run: missing images, unknown ``dx`` codes,
duplicate ids, rows without an id and images that fail to decode are left out and listed in a
:class:`MetadataReport`, which prints one line per kind of problem.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ftlab import splits
from ftlab.data.images import ImageData, ImageDecodeError, center_crop_resize, decode_image
from ftlab.errors import DataError
from ftlab.skin.classes import DIAGNOSES, DX_CODES

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
REQUIRED_COLUMNS = ("image_id", "dx")


@dataclass
class MetadataReport:
    """What was used from a metadata CSV and image folder, and what was left out and why.

    Every list holds ``(where, detail)`` pairs: ``where`` is a CSV line (``"metadata.csv:17"``)
    or a file path.
    """

    csv_path: Path
    image_dir: Path
    rows: int = 0
    used: int = 0
    missing_images: list = field(default_factory=list)
    unknown_dx: list = field(default_factory=list)
    duplicate_ids: list = field(default_factory=list)
    undecodable: list = field(default_factory=list)
    bad_rows: list = field(default_factory=list)
    conflicting_lesions: list = field(default_factory=list)
    lesion_split: bool = False
    lesions: int = 0

    PROBLEMS = ("missing_images", "unknown_dx", "duplicate_ids", "undecodable", "bad_rows", "conflicting_lesions")
    _LABELS = {
        "missing_images": "listed in the CSV but no image file found",
        "unknown_dx": "unknown dx code (expected one of " + ", ".join(DX_CODES) + ")",
        "duplicate_ids": "duplicate image_id (the first row is kept)",
        "undecodable": "image file cannot be decoded",
        "bad_rows": "row without an image_id",
        "conflicting_lesions": "lesion_id with images of different dx (kept; check the CSV)",
    }

    @property
    def skipped(self) -> int:
        """Number of CSV rows / images left out."""
        return sum(len(getattr(self, name)) for name in self.PROBLEMS if name != "conflicting_lesions")

    def lines(self, examples: int = 3) -> list[str]:
        """One readable line per kind of problem, with the first few examples."""
        out = [f"{self.csv_path}: {self.rows} rows, {self.used} images used, {self.skipped} left out"
               + (f"; split by lesion_id ({self.lesions} lesions)" if self.lesion_split else
                  "; no lesion_id column: split by image (images of one lesion may straddle the split)")]
        for name in self.PROBLEMS:
            items = getattr(self, name)
            if items:
                shown = "; ".join(f"{where}: {detail}" for where, detail in items[:examples])
                more = f" (+{len(items) - examples} more)" if len(items) > examples else ""
                out.append(f"  {len(items)} {self._LABELS[name]}: {shown}{more}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def as_dict(self, examples: int = 20) -> dict:
        """JSON-able summary (counts and the first ``examples`` of each problem)."""
        out = {"csv": str(self.csv_path), "rows": self.rows, "used": self.used, "skipped": self.skipped,
               "lesion_split": self.lesion_split, "lesions": self.lesions}
        for name in self.PROBLEMS:
            items = getattr(self, name)
            out[name] = {"count": len(items), "examples": [{"where": str(w), "detail": str(d)} for w, d in items[:examples]]}
        return out


@dataclass(repr=False)
class HamImageData(ImageData):
    """:class:`ftlab.data.images.ImageData` plus the metadata report and each image's lesion id."""

    report: MetadataReport | None = None
    train_lesions: list = field(default_factory=list)
    val_lesions: list = field(default_factory=list)


@dataclass
class _Row:
    line: int
    image_id: str
    dx: str
    lesion_id: str


def read_metadata(csv_path, image_dir=None) -> tuple[list[_Row], MetadataReport]:
    """Parse a HAM10000-style CSV: usable rows and a report of the rows left out.

    Raises:
        DataError: the file is missing or unreadable, or lacks ``image_id`` / ``dx`` columns.
    """
    csv_path = Path(csv_path)
    report = MetadataReport(csv_path=csv_path, image_dir=Path(image_dir) if image_dir else csv_path.parent)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: no such metadata file; pass the CSV with image_id and dx columns "
                        "(HAM10000_metadata.csv in the HAM10000 archive)")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.DictReader(handle, dialect=dialect)
            columns = {(name or "").strip().lower(): name for name in (reader.fieldnames or [])}
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataError(f"{csv_path}: missing column(s) {missing}; found {list(columns) or 'no header'}; "
                                "the first line must name the columns image_id, dx (and optionally lesion_id)")
            report.lesion_split = "lesion_id" in columns
            rows, seen = [], {}
            for line, record in enumerate(reader, start=2):
                report.rows += 1
                where = f"{csv_path.name}:{line}"
                image_id = (record.get(columns["image_id"]) or "").strip()
                dx = (record.get(columns["dx"]) or "").strip().lower()
                lesion = (record.get(columns["lesion_id"]) or "").strip() if report.lesion_split else ""
                if not image_id:
                    report.bad_rows.append((where, "empty image_id"))
                    continue
                if dx not in DIAGNOSES:
                    report.unknown_dx.append((where, f"{image_id}: dx {dx!r}"))
                    continue
                if image_id in seen:
                    first = seen[image_id]
                    same = "same dx" if first.dx == dx else f"dx {dx!r} conflicts with {first.dx!r}"
                    report.duplicate_ids.append((where, f"{image_id} already on line {first.line} ({same})"))
                    continue
                row = _Row(line, image_id, dx, lesion or f"__image__{image_id}")
                seen[image_id] = row
                rows.append(row)
    except UnicodeDecodeError as error:
        raise DataError(f"{csv_path}: not a UTF-8 text CSV ({error.reason}); save it as UTF-8 CSV") from None
    except csv.Error as error:
        raise DataError(f"{csv_path}: cannot parse the CSV ({error}); check quotes and delimiters") from None
    return rows, report


def index_images(image_dir) -> tuple[dict[str, Path], list[tuple[Path, str]]]:
    """Map file stem → image path for every image file under ``image_dir`` (recursively).

    Returns the map and a list of ``(path, reason)`` for stems found twice (the first is kept).
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: no such image folder; pass the folder that holds the images "
                        "(sub-folders are searched too)")
    found, clashes = {}, []
    for path in sorted(image_dir.rglob("*")):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not path.name.startswith("."):
            if path.stem in found:
                clashes.append((path, f"same image_id as {found[path.stem]}"))
                continue
            found[path.stem] = path
    return found, clashes


def lesion_split(labels, groups, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with every lesion wholly on one side: :func:`ftlab.splits.grouped_split`."""
    return splits.grouped_split(labels, groups, val_split, seed)


def load_ham_folder(image_dir, metadata_csv, image_size: int = 224, val_split: float = 0.2, seed: int = 42,
                    class_names=None, verbose: bool = True) -> HamImageData:
    """Load images listed in a HAM10000-style CSV, split by lesion, skipping what cannot be used.

    Introduced in lesson 02; behind ``ftlab finetune --metadata CSV``.

    Args:
        image_dir: folder with the images (searched recursively; file stem = ``image_id``).
        metadata_csv: CSV with ``image_id``, ``dx`` and optionally ``lesion_id`` columns.
        image_size: images become ``image_size × image_size`` by
            :func:`ftlab.data.images.center_crop_resize` (shorter side resized, centre kept).
        val_split: share of images (whole lesions) held out for validation, per class.
        seed: seed of the split.
        class_names: fixed label order (e.g. :data:`ftlab.skin.classes.DX_CODES`); default: the dx
            codes present, in the canonical order akiec, bcc, bkl, df, mel, nv, vasc.
        verbose: print the report.

    Returns:
        :class:`HamImageData` (``x_train, y_train, x_val, y_val, class_names, skipped, source``,
        ``report``).

    Raises:
        DataError: no usable images at all, fewer than two classes, or a bad CSV/folder path.

    Example:
        >>> data = ftlab.skin.ham10000.load_ham_folder("HAM10000_images", "HAM10000_metadata.csv", 96)  # doctest: +SKIP
        >>> print(data.report)  # doctest: +SKIP
    """
    if not 0.0 < val_split < 1.0:
        raise DataError(f"val_split must be between 0 and 1, got {val_split}")
    image_dir = Path(image_dir)
    files, clashes = index_images(image_dir)
    rows, report = read_metadata(metadata_csv, image_dir)
    report.duplicate_ids.extend((str(p), reason) for p, reason in clashes)

    x = np.empty((len(rows), image_size, image_size, 3), dtype=np.uint8)
    kept: list[_Row] = []
    paths: list[Path] = []
    for row in rows:
        path = files.get(row.image_id)
        if path is None:
            report.missing_images.append((f"{report.csv_path.name}:{row.line}",
                                          f"{row.image_id} (no {row.image_id}.jpg/.png under {image_dir})"))
            continue
        try:
            image = decode_image(path, draft_size=image_size)
        except ImageDecodeError as error:
            report.undecodable.append((str(path), error.reason))
            continue
        x[len(kept)] = center_crop_resize(image, image_size)
        kept.append(row)
        paths.append(path)
    x = x[:len(kept)]
    report.used = len(kept)

    if not kept:
        raise DataError(f"{report.csv_path}: none of its {report.rows} rows gave a usable image in {image_dir}\n"
                        + str(report))
    present = [code for code in DX_CODES if any(r.dx == code for r in kept)]
    names = list(class_names) if class_names is not None else present
    unknown_names = [c for c in names if c not in DIAGNOSES]
    if unknown_names:
        raise DataError(f"class_names {unknown_names} are not dx codes; use codes from {', '.join(DX_CODES)}")
    if len([c for c in present if c in names]) < 2:
        raise DataError(f"{report.csv_path}: the usable images cover only {present}; a classifier needs "
                        "at least two dx codes")
    outside = [r for r in kept if r.dx not in names]
    if outside:
        raise DataError(f"{report.csv_path}: dx {sorted({r.dx for r in outside})} not in class_names {names}")
    y = np.array([names.index(r.dx) for r in kept], dtype=np.int32)
    lesions = np.array([r.lesion_id for r in kept])
    dx_by_lesion: dict[str, set] = {}
    for r in kept:
        dx_by_lesion.setdefault(r.lesion_id, set()).add(r.dx)
    report.conflicting_lesions = [(lesion, f"dx {sorted(codes)}") for lesion, codes in dx_by_lesion.items()
                                  if len(codes) > 1 and not lesion.startswith("__image__")]
    report.lesions = len(dx_by_lesion)

    train_idx, val_idx = lesion_split(y, lesions, val_split, seed)
    skipped = []
    for name in MetadataReport.PROBLEMS:
        if name != "conflicting_lesions":
            skipped.extend((where, detail) for where, detail in getattr(report, name))
    data = HamImageData(
        x_train=x[train_idx], y_train=y[train_idx], x_val=x[val_idx], y_val=y[val_idx], class_names=names,
        skipped=skipped, source=f"HAM10000-style CSV {report.csv_path} + images in {image_dir}",
        train_paths=[paths[i] for i in train_idx], val_paths=[paths[i] for i in val_idx], seed=seed,
        report=report, train_lesions=lesions[train_idx].tolist(), val_lesions=lesions[val_idx].tolist(),
    )
    if verbose:
        print(report)
        print(f"split: {data.n_train} train / {data.n_val} val images, no lesion on both sides")
    return data


BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "ham10000"
BUNDLED_CSV = BUNDLED_DIR / "HAM10000_subset_metadata.csv"
BUNDLED_SOURCE = ("HAM10000 (Tschandl et al. 2018; CC BY-NC 4.0): the {n} real dermoscopy images bundled with "
                  "ftlab, one per lesion, in HAM10000's class mix")


def load_bundled(image_size: int = 96, val_split: float = 0.15, test_split: float = 0.2, seed: int = 0,
                 verbose: bool = False):
    """The 2,351 real HAM10000 images that ship with ftlab, as train / validation / test splits.

    Introduced in lesson 02, whose offline default they are. Read through
    :func:`load_ham_folder` twice: first the test lesions are held out, then validation lesions
    from what is left, so no lesion is in two splits (and every split keeps HAM10000's class mix,
    rare classes included). The files are in ``ftlab/assets/ham10000/`` (CC BY-NC 4.0, credit in
    the README there).

    Args:
        image_size: side of the square images given to the backbone.
        val_split, test_split: shares of all images (whole lesions) for validation and test.
        seed: seed of both splits.
        verbose: print the metadata report.

    Returns:
        :class:`ftlab.skin.synthetic.SkinSplits` with the seven dx codes as classes.

    Example:
        >>> data = ftlab.skin.ham10000.load_bundled(96)  # doctest: +SKIP
        >>> data.counts()["test"]["mel"]  # doctest: +SKIP
        52
    """
    from ftlab.skin.synthetic import SkinSplits

    if not (0 < val_split and 0 < test_split and val_split + test_split < 1):
        raise DataError(f"load_bundled(val_split={val_split}, test_split={test_split}): use two positive "
                        "shares that add up to less than 1")
    outer = load_ham_folder(BUNDLED_DIR / "images", BUNDLED_CSV, image_size=image_size, val_split=test_split,
                            seed=seed, class_names=DX_CODES, verbose=verbose)
    train_idx, val_idx = lesion_split(outer.y_train, np.array(outer.train_lesions),
                                      val_split / (1 - test_split), seed + 1)
    n = outer.n_train + outer.n_val
    return SkinSplits(x_train=outer.x_train[train_idx], y_train=outer.y_train[train_idx],
                      x_val=outer.x_train[val_idx], y_val=outer.y_train[val_idx],
                      x_test=outer.x_val, y_test=outer.y_val, codes=tuple(DX_CODES),
                      source=BUNDLED_SOURCE.format(n=f"{n:,}"),
                      attributes={"train_lesions": [outer.train_lesions[i] for i in train_idx],
                                  "val_lesions": [outer.train_lesions[i] for i in val_idx],
                                  "test_lesions": list(outer.val_lesions)})
