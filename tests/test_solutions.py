"""Solutions notebooks (tools/make_solutions.py): current, complete, and built right on a toy lesson.

The solutions notebooks themselves run under nbval with the lessons (``make notebooks``); these
tests make sure they are the current lesson plus answers to every one of its exercises.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import ftlab

REPO = Path(__file__).resolve().parents[1]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


solutions_tool = load_tool("make_solutions")
headers = solutions_tool.headers


def own_sources(notebook) -> list[tuple[str, str]]:
    return [
        (cell.cell_type, cell.source) for cell in notebook.cells if not cell.get("metadata", {}).get("tags")
    ]


# --- the repository ---------------------------------------------------------------------------------


def test_every_lesson_has_current_solutions():
    changed, missing = solutions_tool.refresh(REPO, write=False)
    assert not missing, f"lessons without solutions/answers/NAME.md: {[path.name for path in missing]}"
    assert not changed, (
        f"stale: {[str(path.relative_to(REPO)) for path in changed]}; "
        "run `python tools/make_solutions.py` and commit the notebooks"
    )


def test_solutions_notebooks_contain_their_lesson_verbatim():
    """So running a solutions notebook under nbval runs its whole lesson too."""
    for lesson, _, solved in solutions_tool.pairs(REPO):
        if not solved.exists():
            continue
        lesson_cells = own_sources(nbformat.read(lesson, as_version=4))
        solved_cells = own_sources(nbformat.read(solved, as_version=4))
        assert solved_cells[: len(lesson_cells)] == lesson_cells, (
            f"{solved.name} does not start with its lesson"
        )
        assert len(solved_cells) > len(lesson_cells), f"{solved.name} adds no solutions"


def test_lessons_leave_their_exercises_for_the_learner():
    """A lesson's answer cells hold None, and each check waits for an answer (answer=...)."""
    for lesson, _, _ in solutions_tool.pairs(REPO):
        cells = [cell.source for cell in nbformat.read(lesson, as_version=4).cells if cell.cell_type == "code"]
        answer_cells = [source for source in cells if source.startswith("# Your answer")]
        assert answer_cells, f"{lesson.name}: no '# Your answers' cell"
        for source in answer_cells:
            assigned = [line for line in source.splitlines() if not line.startswith("#") and "=" in line]
            placeholders = [line for line in assigned if line.split("#")[0].strip().endswith("= None")]
            assert placeholders, f"{lesson.name}: an answer cell gives its answer away:\n{source}"
        for source in cells:
            for call in source.split("ftlab.exercise(")[1:]:
                assert "answer=" in call.split("ftlab.exercise(")[0], (
                    f"{lesson.name}: an ftlab.exercise(...) call without answer=, so it cannot wait for the learner"
                )


# --- a toy lesson -------------------------------------------------------------------------------------

TOY_CHECKS = [
    'ftlab.exercise("9.1 double it", lambda: answer_1 == 2 * base, hint="multiply", answer=answer_1)\n'
    'ftlab.exercise("9.2 square it", lambda: answer_2 == base**2, hint="power", answer=answer_2)',
    'ftlab.exercise("9.3 name it", lambda: answer_3 == "nine", answer=answer_3)',
]

TOY_ANSWERS = """\
### Exercise 9.1

Doubling is adding a number to itself.

```python solution 9.1
answer_1 = base + base
```

### Exercises 9.2 and 9.3

```python solution 9.2 9.3
answer_2 = base * base
answer_3 = "nine"
```

That is all.
"""


def toy_repository(root: Path, answers: str = TOY_ANSWERS) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 09 · Toy lesson"),
        nbformat.v4.new_code_cell("import ftlab\n\nbase = 3"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_code_cell("# Your answers\nanswer_1 = None\nanswer_2 = None"),
        nbformat.v4.new_code_cell(TOY_CHECKS[0]),
        nbformat.v4.new_code_cell("answer_3 = None"),
        nbformat.v4.new_code_cell(TOY_CHECKS[1]),
    ]
    (root / "notebooks").mkdir(parents=True)
    nbformat.write(notebook, root / "notebooks" / "09_toy.ipynb")
    (root / "solutions" / "answers").mkdir(parents=True)
    (root / "solutions" / "answers" / "09_toy.md").write_text(answers)
    return root / "solutions" / "09_toy.ipynb"


def run_cells(notebook, namespace: dict | None = None) -> dict:
    """Execute a notebook's code cells in one namespace, as a kernel would (IPython syntax allowed)."""
    namespace = {} if namespace is None else namespace
    transform = TransformerManager().transform_cell
    for cell in notebook.cells:
        if cell.cell_type == "code":
            exec(compile(transform(cell.source), "<cell>", "exec"), namespace)
    return namespace


def test_toy_solutions_are_lesson_then_answers_then_checks(tmp_path, capsys):
    target = toy_repository(tmp_path)
    assert solutions_tool.main(["--root", str(tmp_path)]) == 0
    built = nbformat.read(target, as_version=4)
    sources = [cell.source for cell in built.cells]
    assert headers.is_managed(built.cells[0], headers.HEADER_TAG)
    assert headers.is_managed(built.cells[1], headers.INSTALL_TAG)
    lesson = nbformat.read(tmp_path / "notebooks" / "09_toy.ipynb", as_version=4)
    assert own_sources(built)[: len(lesson.cells)] == own_sources(lesson)
    tail = sources[-9:]
    assert tail[0].startswith("## Solutions")
    assert tail[1] == solutions_tool.REQUIRE_ANSWERS_SOURCE
    assert tail[2].startswith("### Exercise 9.1")
    assert tail[3] == "answer_1 = base + base"
    # the first check cell covers 9.1 and 9.2: it runs again only after 9.2 has its solution
    assert tail[4].startswith("### Exercises 9.2 and 9.3")
    assert tail[5] == 'answer_2 = base * base\nanswer_3 = "nine"'
    assert tail[6:8] == TOY_CHECKS
    assert tail[8] == "That is all."

    namespace = run_cells(built)
    output = capsys.readouterr().out
    # the lesson leaves its answers as None: its checks wait; the solutions' answers then pass
    assert output.count("○ exercise 9.1 double it: not answered yet") == 1
    assert output.count("✓ exercise 9.1 double it: solved") == 1
    assert output.count("✓ exercise 9.3 name it: solved") == 1
    assert namespace["answer_2"] == 9

    assert solutions_tool.refresh(tmp_path, write=False) == ([], [])  # idempotent


def test_a_wrong_solution_fails_the_lessons_check(tmp_path):
    target = toy_repository(tmp_path, TOY_ANSWERS.replace("answer_1 = base + base", "answer_1 = base + 1"))
    solutions_tool.refresh(tmp_path)
    with pytest.raises(ftlab.checks.CheckFailed, match="9.1 double it: not solved yet"):
        run_cells(nbformat.read(target, as_version=4))


def test_a_solution_that_leaves_an_answer_none_fails(tmp_path):
    target = toy_repository(tmp_path, TOY_ANSWERS.replace('answer_3 = "nine"', "answer_3 = None"))
    solutions_tool.refresh(tmp_path)
    with pytest.raises(ftlab.checks.CheckFailed, match="9.3 name it: no answer"):
        run_cells(nbformat.read(target, as_version=4))


def test_a_changed_lesson_makes_its_solutions_stale(tmp_path, capsys):
    target = toy_repository(tmp_path)
    solutions_tool.refresh(tmp_path)
    lesson_path = tmp_path / "notebooks" / "09_toy.ipynb"
    lesson = nbformat.read(lesson_path, as_version=4)
    lesson.cells[1].source = "import ftlab\n\nbase = 4"
    nbformat.write(lesson, lesson_path)
    assert solutions_tool.main(["--check", "--root", str(tmp_path)]) == 1
    assert "solutions/09_toy.ipynb is stale" in capsys.readouterr().out
    solutions_tool.refresh(tmp_path)
    assert "base = 4" in nbformat.read(target, as_version=4).cells[4].source


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (TOY_ANSWERS.replace("solution 9.2 9.3", "solution 9.2"), "no solution for exercise(s) 9.3"),
        (TOY_ANSWERS.replace("solution 9.1", "solution 9.1 9.7"), "the lesson has no exercise(s) 9.7"),
        (TOY_ANSWERS.replace("solution 9.2 9.3", "solution 9.1 9.2 9.3"), "exercise(s) 9.1 answered twice"),
        (TOY_ANSWERS.replace("```python solution 9.1", "```python"), "code fences must open with"),
        ("```python solution 9.1\nanswer_1 = 6\n", "never closed"),
        ("Just prose, no code.\n", "no '```python solution KEY' blocks"),
    ],
)
def test_bad_answers_files_get_one_line_errors(tmp_path, capsys, answers, message):
    toy_repository(tmp_path, answers)
    assert solutions_tool.main(["--root", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert "09_toy.md" in error
    assert len(error.strip().splitlines()) == 1


def test_a_lesson_without_answers_file_is_reported(tmp_path, capsys):
    toy_repository(tmp_path)
    (tmp_path / "solutions" / "answers" / "09_toy.md").unlink()
    assert solutions_tool.main(["--root", str(tmp_path)]) == 1
    assert "09_toy.ipynb: no solutions/answers/09_toy.md yet" in capsys.readouterr().out
