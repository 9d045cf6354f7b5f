"""tools/strip_notebooks.py: the committed notebooks carry no outputs, and the tool removes them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("strip_notebooks", REPO / "tools" / "strip_notebooks.py")
tool = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = tool
spec.loader.exec_module(tool)


def test_committed_notebooks_are_stripped():
    paths = tool.course_notebooks(REPO)
    assert len(paths) >= 6
    stale = tool.strip(paths, write=False)
    assert not stale, f"notebooks with outputs: {stale}; run `python tools/strip_notebooks.py` and commit"


def test_strip_removes_outputs_and_run_metadata(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
         "language_info": {"name": "python", "version": "3.11.9"}, "widgets": {"state": {}}}
    )
    cell = nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["keep"], "execution": {"iopub.status.busy": "2026-12-01T00:00:00.000Z"}, "scrolled": True})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.execution_count = 7
    notebook.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(notebook, path)

    assert tool.main(["--check", str(path)]) == 1
    assert tool.main([str(path)]) == 0
    clean = nbformat.read(path, as_version=4)
    code = clean.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert dict(code.metadata) == {"tags": ["keep"]}
    assert set(clean.metadata) == {"kernelspec", "language_info"}
    assert clean.metadata.language_info == {"name": "python"}
    assert tool.main(["--check", str(path)]) == 0
