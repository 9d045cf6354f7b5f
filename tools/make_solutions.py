"""Build the solutions notebooks: each lesson, verbatim, followed by worked answers to its exercises.

``solutions/NN_name.ipynb`` is made from two sources and never edited by hand:

- the lesson ``notebooks/NN_name.ipynb``: every cell, unchanged and in order, so running the
  solutions notebook also runs the whole lesson (with the learner's default answers);
- ``solutions/answers/NN_name.md``: the worked answers, in Markdown. Prose becomes Markdown cells;
  each fenced block opened with ```` ```python solution 0.1 0.2 ```` becomes a code cell that
  answers the exercises named (the first word of each ``ftlab.exercise("0.1 …", …)`` name).

The lesson's own answer cells hold ``None`` (its checks then say "not answered yet"); the solutions
switch on ``ftlab.checks.require_answers()``, and after each solution's code the lesson's own check
cell for those exercises runs again, so the answers pass exactly the checks the learner's do. Every exercise of the lesson must be answered
once. Headers (badges, links, the Colab install cell) come from ``tools/lesson_headers.py``.

Usage:
    python tools/make_solutions.py           # write solutions/NN_*.ipynb for lessons with answers
    python tools/make_solutions.py --check   # exit 1 and list stale or missing solutions notebooks
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ANSWERS_DIR = Path("solutions") / "answers"
SOLUTIONS_TAG = "ftlab-solutions"
EXERCISE_CALL = re.compile(r"ftlab\.exercise\(\s*(?P<quote>[\"'])(?P<name>.+?)(?P=quote)")
REQUIRE_ANSWERS_SOURCE = "ftlab.checks.require_answers()  # an exercise still answered `None` now fails"
FENCE_OPEN = re.compile(r"^```python\s+solution\s+(?P<keys>.+?)\s*$")


def _load_headers_tool():
    path = Path(__file__).resolve().with_name("lesson_headers.py")
    spec = importlib.util.spec_from_file_location("lesson_headers", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


headers = _load_headers_tool()


@dataclass
class Solution:
    """Markdown prose and one code block answering the exercises in ``keys``."""

    keys: list[str]
    code: str
    prose: list[str] = field(default_factory=list)


def exercise_keys(source: str) -> list[str]:
    """Keys (``"0.1"``) of the ``ftlab.exercise`` calls in a cell."""
    return [match.group("name").split()[0] for match in EXERCISE_CALL.finditer(source)]


def parse_answers(path: Path) -> tuple[list[Solution], str]:
    """Split an answers file into solutions (each with the prose before it) and closing prose."""
    solutions: list[Solution] = []
    prose: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE_OPEN.match(lines[index])
        if lines[index].startswith("```") and not match:
            raise ValueError(
                f"{path}:{index + 1}: code fences must open with '```python solution KEY [KEY ...]'"
            )
        if not match:
            prose.append(lines[index])
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{path}:{index + 1}: the code fence is never closed with ```")
        text = "\n".join(prose).strip()
        code = "\n".join(lines[index + 1 : end]).strip()
        if not code:
            raise ValueError(f"{path}:{index + 1}: empty solution block")
        solutions.append(Solution(match.group("keys").split(), code, [text] if text else []))
        prose = []
        index = end + 1
    if not solutions:
        raise ValueError(f"{path}: no '```python solution KEY' blocks")
    return solutions, "\n".join(prose).strip()


def _cell(cell_type: str, source: str, cell_id: str, tags: list[str] | None = None):
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    cell = make(source, metadata={"tags": tags} if tags else {})
    cell["id"] = cell_id
    return cell


def build_solutions(lesson_path: Path, answers_path: Path, lessons: list) -> nbformat.NotebookNode:
    """The solutions notebook for one lesson."""
    lesson = nbformat.read(lesson_path, as_version=4)
    own_cells = [cell for cell in lesson.cells if not headers.is_managed(cell)]
    checks: dict[str, object] = {}
    for cell in own_cells:
        if cell.cell_type == "code":
            for key in exercise_keys(cell.source):
                if key in checks:
                    raise ValueError(f"{lesson_path}: exercise {key} is checked in two cells")
                checks[key] = cell
    if not checks:
        raise ValueError(f"{lesson_path}: no ftlab.exercise(...) checks, so nothing to solve")
    solutions, closing = parse_answers(answers_path)
    answered = [key for solution in solutions for key in solution.keys]
    unknown = sorted(set(answered) - set(checks))
    unanswered = [key for key in checks if key not in answered]
    repeated = sorted({key for key in answered if answered.count(key) > 1})
    if unknown or unanswered or repeated:
        problems = []
        if unanswered:
            problems.append(f"no solution for exercise(s) {', '.join(unanswered)}")
        if unknown:
            problems.append(f"the lesson has no exercise(s) {', '.join(unknown)}")
        if repeated:
            problems.append(f"exercise(s) {', '.join(repeated)} answered twice")
        raise ValueError(f"{answers_path}: {'; '.join(problems)} (lesson {lesson_path.name})")

    # A check cell that covers several exercises runs again once all of them have their solution.
    last_solution = {}
    for number, solution in enumerate(solutions, start=1):
        for key in solution.keys:
            last_solution[id(checks[key])] = (number, checks[key])
    lesson_number = lesson_path.name[:2]
    appended = [
        _cell(
            "markdown",
            "## Solutions\n\nWorked answers to this lesson's exercises. After each answer, the lesson's own "
            "check runs again on the new answer; from here on an answer left as `None` fails.",
            "solutions",
            [SOLUTIONS_TAG],
        ),
        _cell("code", REQUIRE_ANSWERS_SOURCE, "solutions-require-answers", [SOLUTIONS_TAG]),
    ]
    for number, solution in enumerate(solutions, start=1):
        for paragraph_number, paragraph in enumerate(solution.prose, start=1):
            appended.append(_cell("markdown", paragraph, f"solution-{number}-text-{paragraph_number}"))
        appended.append(_cell("code", solution.code, f"solution-{number}-code"))
        due = [cell for last, cell in last_solution.values() if last == number]
        for check_number, check in enumerate(due, start=1):
            appended.append(_cell("code", check.source, f"solution-{number}-check-{check_number}"))
    if closing:
        appended.append(_cell("markdown", closing, "solutions-closing"))

    notebook = copy.deepcopy(lesson)
    note = _cell(
        "markdown",
        f"**Lesson {lesson_number} with worked solutions.** The lesson runs first, unchanged; the answers "
        "follow at the end, under *Solutions*.",
        "solutions-note",
        [SOLUTIONS_TAG],
    )
    notebook.cells = [note, *copy.deepcopy(own_cells), *appended]
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        notebook.nbformat_minor = 5  # cell ids
    return headers.with_headers(notebook, "solutions", lesson_path.name, lessons)


def pairs(root: Path) -> list[tuple[Path, Path, Path]]:
    """(lesson, answers, solutions notebook) for every lesson."""
    found = []
    for lesson in sorted((root / headers.NOTEBOOKS_DIR).glob("*.ipynb")):
        if headers.LESSON_PATTERN.match(lesson.name):
            answers = root / ANSWERS_DIR / f"{lesson.stem}.md"
            found.append((lesson, answers, root / headers.SOLUTIONS_DIR / lesson.name))
    return found


def refresh(root: Path = ROOT, write: bool = True) -> tuple[list[Path], list[Path]]:
    """Rebuild the solutions notebooks.

    Returns:
        (changed solutions notebooks, lessons that have no answers file yet).

    Example:
        >>> refresh(write=False)  # doctest: +SKIP
        ([], [])
    """
    lessons = headers.find_lessons(root / headers.NOTEBOOKS_DIR)
    changed, missing = [], []
    for lesson, answers, target in pairs(root):
        if not answers.exists():
            missing.append(lesson)
            continue
        built = json.loads(nbformat.writes(build_solutions(lesson, answers, lessons)))
        current = json.loads(target.read_text(encoding="utf-8")) if target.exists() else None
        if built != current:
            changed.append(target)
            if write:
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_suffix(".ipynb.tmp")
                nbformat.write(nbformat.from_dict(built), temporary)
                temporary.replace(target)
    return changed, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report (exit 1 when something is stale)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        changed, missing = refresh(args.root, write=not args.check)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for lesson in missing:
        print(f"{lesson.name}: no {ANSWERS_DIR / (lesson.stem + '.md')} yet; write its worked answers there")
    for path in changed:
        verb = "is stale; run `python tools/make_solutions.py` and commit it" if args.check else "written"
        print(f"{path.relative_to(args.root)} {verb}")
    return 1 if missing or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
