"""Copy the browser test's screenshot of the network map into docs/, small, for the README.

The picture is never drawn by hand: ``tests/test_browser.py`` opens lesson 01 in JupyterLab,
clicks the map's blocks and saves ``build/screenshots/map-*.png``; this tool takes one of them,
reduces it to a palette PNG (the map has few colours, so it stays sharp) and writes
``docs/images/network-map.png``, which the README shows. Run it after the browser test, then
commit the image::

    python -m pytest -q tests/test_browser.py -k network_map
    python tools/readme_screenshot.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "build" / "screenshots" / "map-top-2-stages.png"
TARGET = ROOT / "docs" / "images" / "network-map.png"
COLOURS = 64


def write_small_png(source: Path, target: Path, colours: int = COLOURS) -> int:
    """Write ``source`` as an optimised palette PNG at ``target``; returns its size in bytes."""
    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp.png")
    small.save(temporary, optimize=True)
    temporary.replace(target)
    return target.stat().st_size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="screenshot from the browser test")
    parser.add_argument("--target", type=Path, default=TARGET, help="image the README shows")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"{args.source}: not found; run `python -m pytest tests/test_browser.py -k network_map` first",
              file=sys.stderr)
        return 2
    size = write_small_png(args.source, args.target)
    print(f"{args.target.relative_to(ROOT) if args.target.is_relative_to(ROOT) else args.target}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
