"""Copy the course's real offline data into ``ftlab/assets/`` (run once; the result is committed).

Sources (provenance and licences in ``../shared/data/README.md`` beside the checkout):

* ``flower_photos/`` → ``flowers/photos/<class>/`` — 600 of TensorFlow's flower photos (``tf_flowers``; CC BY 2.0 per photo),
  120 per class. Each is resized so its *shorter* side is 256 px (aspect kept, Lanczos) and saved
  as JPEG quality 90: big enough for a 224-px centre crop, small enough that a clone stays quick.
  Their 600 credit lines go beside them (``ATTRIBUTION.txt``).
* ``ham10000/`` — 2,351 HAM10000 dermoscopy images (CC BY-NC 4.0), one per lesion, in HAM10000's
  own class mix, with the official metadata rows. Copied byte for byte at the 224 px they come in
  (issue 10: a model trained at 128 px transferred clearly worse than one trained at 224 px).

Usage:
    python tools/vendor_data.py [--source ../shared/data]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "ftlab" / "assets"
SHORT_SIDE = 256
QUALITY = 90

FLOWERS_README = """# Flower photos (offline default of lesson 01)

600 photos from TensorFlow's `flower_photos` set (`tf_flowers`), 120 per class: daisy, dandelion,
roses, sunflowers, tulips (the first 120 file names per class in C-locale order of the full
3,670-photo archive). Each photo is resized so its shorter side is 256 px, aspect kept
(`tools/vendor_data.py`).

**Licence: Creative Commons Attribution 2.0, per photo** —
https://creativecommons.org/licenses/by/2.0/ . The photographer of every photo is credited in
`ATTRIBUTION.txt` (one line per file under `photos/`: path, licence, author, source page on Flickr). Resizing is
the only change made. Redistribution must keep those credit lines and the licence link.

Collected by the TensorFlow team (`flower_photos.tgz`, used by the TensorFlow image
classification tutorials and tensorflow-datasets' `tf_flowers`).
"""

HAM_README = """# HAM10000 dermoscopy subset (offline default of lesson 02)

2,351 dermoscopy images from the HAM10000 data set, one image per lesion, in HAM10000's own class
mix (nv 1574, mel 261, bkl 258, bcc 121, akiec 77, vasc 33, df 27: the full release scaled by
27/115), 224 × 224 JPEG (squashed from the 600 × 450 originals), with their official metadata rows
in `HAM10000_subset_metadata.csv` (`lesion_id, image_id, dx, dx_type, age, sex, localization`).

**Licence: Creative Commons Attribution-NonCommercial 4.0 International (CC BY-NC 4.0)** —
https://creativecommons.org/licenses/by-nc/4.0/ . These images and their metadata may be shared
and adapted for non-commercial purposes, with credit. They stay under CC BY-NC 4.0 inside this
course (whose code is Apache-2.0); do not use them commercially.

Credit: Tschandl, P., Rosendahl, C. & Kittler, H. *The HAM10000 dataset, a large collection of
multi-source dermatoscopic images of common pigmented skin lesions.* Sci. Data 5, 180161 (2018),
doi:10.1038/sdata.2018.161. Harvard Dataverse, doi:10.7910/DVN/DBW86T.

Not a medical device: a model trained on these images is for learning only.
"""


def resize_short_side(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        scale = SHORT_SIDE / min(image.size)
        size = (max(SHORT_SIDE, round(image.width * scale)), max(SHORT_SIDE, round(image.height * scale)))
        image.resize(size, Image.Resampling.LANCZOS).save(target, quality=QUALITY, optimize=True)


def vendor_flowers(source: Path) -> int:
    target = ASSETS / "flowers"
    shutil.rmtree(target, ignore_errors=True)
    count = 0
    for path in sorted(source.glob("*/*.jpg")):
        (target / "photos" / path.parent.name).mkdir(parents=True, exist_ok=True)
        resize_short_side(path, target / "photos" / path.parent.name / path.name)
        count += 1
    shutil.copy(source / "ATTRIBUTION.txt", target / "ATTRIBUTION.txt")
    (target / "README.md").write_text(FLOWERS_README)
    return count


def vendor_ham(source: Path) -> int:
    target = ASSETS / "ham10000"
    shutil.rmtree(target, ignore_errors=True)
    (target / "images").mkdir(parents=True)
    images = sorted((source / "images").glob("*.jpg"))
    for path in images:
        shutil.copy(path, target / "images" / path.name)
    shutil.copy(source / "HAM10000_subset_metadata.csv", target / "HAM10000_subset_metadata.csv")
    (target / "README.md").write_text(HAM_README)
    return len(images)


def write_checksums(folder: Path) -> None:
    """``SHA256SUMS`` of every file under ``folder``: tests check the vendored copy is intact."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}"
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    print("flowers:", vendor_flowers(args.source / "flower_photos"), "photos")
    print("ham10000:", vendor_ham(args.source / "ham10000"), "images")
    for name in ("flowers", "ham10000"):
        write_checksums(ASSETS / name)


if __name__ == "__main__":
    main()
