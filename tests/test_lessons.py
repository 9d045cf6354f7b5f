"""What the lessons' code cells must contain: the Keras they teach, one import style, short cells."""

import ast
import json
import re
import statistics
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
COLAB_CELL = "# extra code – on Colab"


def _code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and not "".join(c["source"]).startswith(COLAB_CELL)]


def _code(lesson_number):
    (path,) = [p for p in LESSONS if p.name.startswith(lesson_number)]
    return "\n".join(_code_cells(path))


# the Keras each lesson teaches, written in its own cells (not hidden in ftlab)
TAUGHT = {
    "00": [".trainable = ", ".compile(", "validation_data="],
    "01": ["backbone.trainable = False", "training=False", "layer.trainable = ", ".compile(", "validation_data="],
    "02": ["keras.Sequential(", "class_weight=", "compute_class_weight(", "validation_data="],
    "03": [".enable_lora(", "lm.compile(", "lm.fit(", "generate(", "global_clipnorm"],
    "04": ["keras.layers.TimeDistributed(", ".compile(", ".fit(", "validation_data="],
}


@pytest.mark.parametrize("lesson", sorted(TAUGHT))
def test_each_lesson_writes_the_keras_it_teaches(lesson):
    code = _code(lesson)
    missing = [call for call in TAUGHT[lesson] if call not in code]
    assert not missing, f"lesson {lesson}'s code cells no longer contain {missing}"


def test_every_fit_in_the_lessons_gets_validation_data():
    # or says in its cell why not ("# no validation_data: <reason>"), e.g. a probe that trains nothing
    offenders = []
    for path in LESSONS:
        for cell in _code_cells(path):
            for node in ast.walk(ast.parse(re.sub(r"^\s*[%!].*$", "", cell, flags=re.M))):
                if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "fit"
                        and "TemperatureScaler" not in ast.unparse(node.func)):  # Keras fits only
                    if "validation_data" not in {k.arg for k in node.keywords} and "# no validation_data: " not in cell:
                        offenders.append(f"{path.name}: {ast.unparse(node)[:100]}")
    assert not offenders, offenders


def test_lessons_import_ftlab_as_one_namespace():
    for path in LESSONS:
        for cell in _code_cells(path):
            assert not re.search(r"^from ftlab[\w.]* import ", cell, flags=re.M), (
                f"{path.name}: use `import ftlab` and `ftlab.module.name(...)`, as STYLE.md says:\n{cell[:200]}")


def test_no_cell_ends_in_a_bare_semicolon_after_a_check():
    # ftlab.check returns None, so a cell ending with one shows no stray True and needs no `;`
    for path in LESSONS:
        for cell in _code_cells(path):
            last = cell.rstrip().splitlines()[-1] if cell.strip() else ""
            assert not (last.endswith(");") and "check" in cell.rstrip().rsplit("ftlab.", 1)[-1]), f"{path.name}: {last}"


def test_median_code_cell_is_at_most_five_lines():
    lengths = [len(cell.strip().splitlines()) for path in LESSONS for cell in _code_cells(path)]
    assert statistics.median(lengths) <= 5, statistics.median(lengths)
