"""Strip outputs and run-time metadata from the course notebooks before they are committed.

Notebooks live in git without outputs (what a learner sees comes from running them), so diffs show
only what a person changed. For each code cell this clears ``outputs`` and ``execution_count`` and
drops the per-cell ``execution`` and ``collapsed``/``scrolled`` metadata that JupyterLab adds; the
notebook's metadata keeps only ``kernelspec`` and the language name.

Usage:
    python tools/strip_notebooks.py            # strip notebooks/ and solutions/ in place
    python tools/strip_notebooks.py --check    # exit 1 and list notebooks that carry outputs
    python tools/strip_notebooks.py path.ipynb # only these
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions")
CELL_METADATA_DROPPED = ("execution", "collapsed", "scrolled", "jupyter")


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Every committed course notebook (``notebooks/*.ipynb`` and ``solutions/*.ipynb``)."""
    return [path for folder in FOLDERS for path in sorted((root / folder).glob("*.ipynb"))]


def stripped(notebook):
    """The notebook without outputs, execution counts and run-time metadata (a new object)."""
    result = nbformat.from_dict(json.loads(nbformat.writes(notebook)))
    for cell in result.cells:
        for key in CELL_METADATA_DROPPED:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    language = result.metadata.get("language_info", {}).get("name", "python")
    kept = {"kernelspec": result.metadata["kernelspec"]} if "kernelspec" in result.metadata else {}
    result.metadata = nbformat.from_dict({**kept, "language_info": {"name": language}})
    return result


def strip(paths: list[Path], write: bool = True) -> list[Path]:
    """Strip ``paths``; returns those that changed (or, with ``write=False``, would change)."""
    changed = []
    for path in paths:
        current = nbformat.read(path, as_version=4)
        clean = stripped(current)
        if json.loads(nbformat.writes(clean)) != json.loads(path.read_text(encoding="utf-8")):
            changed.append(path)
            if write:
                temporary = path.with_suffix(".ipynb.tmp")
                nbformat.write(clean, temporary)
                temporary.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report (exit 1 when a notebook has outputs)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (default: all)")
    args = parser.parse_args(argv)
    paths = args.notebooks or course_notebooks()
    changed = strip(paths, write=not args.check)
    for path in changed:
        shown = path.relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        print(f"{shown}: has outputs or run-time metadata" if args.check else f"stripped {shown}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
