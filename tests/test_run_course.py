"""tools/run_course.py (``make course``): executes lessons, measures time and memory, writes the table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("run_course", REPO / "tools" / "run_course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


run_course = load_tool()


def write_notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def test_runs_lessons_measures_them_and_reports_failures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTLAB_QUICK", "1")  # the runner must unset it: the course runs in full mode
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    heavy = write_notebook(
        lessons / "00_heavy.ipynb",
        "import os\nimport numpy as np\n\nblock = np.ones(300 * 1024 * 1024 // 8)  # 300 MiB, touched",
        "print('quick:', os.environ.get('FTLAB_QUICK'), 'offline:', os.environ.get('FTLAB_OFFLINE'))",
    )
    broken = write_notebook(lessons / "01_broken.ipynb", "raise ValueError('this lesson is broken')")
    out = tmp_path / "build"
    monkeypatch.chdir(tmp_path)  # a relative --out must not land in the lesson's folder

    code = run_course.main([str(heavy), str(broken), "--out", "build"])

    assert code == 1  # one lesson failed
    runs = {run["lesson"]: run for run in json.loads((out / "course.json").read_text())}
    assert runs["00_heavy"]["ok"] and not runs["01_broken"]["ok"]
    assert runs["00_heavy"]["kernel_peak_mib"] >= 300
    assert runs["00_heavy"]["tree_peak_mib"] >= runs["00_heavy"]["kernel_peak_mib"]
    assert runs["01_broken"]["kernel_peak_mib"] < 300
    assert 0 < runs["00_heavy"]["wall_s"] < 300
    assert "ValueError: this lesson is broken" in runs["01_broken"]["error"]

    executed = nbformat.read(out / "course" / "00_heavy.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "quick: None offline: 1\n"
    assert (out / "course" / "00_heavy.html").stat().st_size > 10_000
    table = (out / "course.md").read_text()
    assert "| 00_heavy | ran |" in table
    assert "| 01_broken | **failed**: ValueError: this lesson is broken |" in table
    assert "full offline" in table
    assert not (out / "course" / "cache").exists()
    assert sorted(path.name for path in lessons.iterdir()) == ["00_heavy.ipynb", "01_broken.ipynb"]
    assert "failed: 01_broken" in capsys.readouterr().err


def test_budget_overrun_fails_unless_only_reporting():
    fine = run_course.LessonRun("a", True, wall_s=100, kernel_peak_mib=900, tree_peak_mib=1000)
    too_big = run_course.LessonRun("b", True, wall_s=100, kernel_peak_mib=2000, tree_peak_mib=2100)
    too_slow = run_course.LessonRun("c", True, wall_s=9 * 60, kernel_peak_mib=500, tree_peak_mib=600)
    assert fine.within_budget()
    assert not too_big.within_budget()
    assert not too_slow.within_budget()
    # in a 2 GiB cgroup, the budget is running to the end inside it, whatever RSS says
    reclaimed = run_course.LessonRun("d", True, wall_s=100, kernel_peak_mib=2000, tree_peak_mib=2100,
                                     tree_anon_peak_mib=1600, cgroup_limit_mib=2048, cgroup_peak_mib=2048,
                                     cgroup_limit_reached=True)
    killed = run_course.LessonRun("e", False, wall_s=100, kernel_peak_mib=2040, tree_peak_mib=2040,
                                  error="killed for memory", cgroup_limit_mib=2048, cgroup_peak_mib=2048,
                                  cgroup_limit_reached=True, oom_kills=1)
    loose = run_course.LessonRun("f", True, wall_s=100, kernel_peak_mib=900, tree_peak_mib=1000,
                                 cgroup_limit_mib=4096, cgroup_peak_mib=1000)
    assert reclaimed.within_budget()
    assert not killed.within_budget()
    assert not loose.within_budget()  # a looser cgroup than the budget proves nothing
    table = run_course.markdown_table([fine, too_big, too_slow, reclaimed, killed], quick=False)
    assert "| a | ran | 1 min 40 s | 900 MiB | 1,000 MiB | 0 MiB | not available (needs root) | ✓ |" in table
    assert "| b | ran | 1 min 40 s | 2,000 MiB | 2,100 MiB | 0 MiB | not available (needs root) | ✗ |" in table
    assert "| c | ran | 9 min 00 s | 500 MiB | 600 MiB | 0 MiB | not available (needs root) | ✗ |" in table
    assert ("| d | ran | 1 min 40 s | 2,000 MiB | 2,100 MiB | 1,600 MiB "
            "| peak 2,048 of 2,048 MiB, limit reached (page cache reclaimed) | ✓ |") in table
    assert "| e | **failed**: killed for memory |" in table and "**killed for memory** | ✗ |" in table


def test_a_lesson_over_the_memory_limit_is_killed_and_reported(tmp_path):
    """Where a memory cgroup can be made (root), a lesson over the limit dies and the run says why;
    elsewhere the run says that no cgroup was available and measures RSS only."""
    greedy = write_notebook(tmp_path / "00_greedy.ipynb",
                            "import numpy as np\n\nblock = np.ones(900 * 1024 * 1024 // 8)  # 900 MiB, touched")
    probe = run_course.MemoryLimit.create("probe", 400)
    if probe is not None:
        probe.remove()
    code = run_course.main([str(greedy), "--out", str(tmp_path / "build"), "--no-html", "--memory-limit", "400"])
    run = json.loads((tmp_path / "build" / "course.json").read_text())[0]
    table = (tmp_path / "build" / "course.md").read_text()
    if probe is None:
        assert code == 0 and run["ok"] and run["cgroup_limit_mib"] is None
        assert "not available (needs root)" in table
    else:
        assert code == 1 and not run["ok"]
        assert run["oom_kills"] >= 1 and run["cgroup_limit_reached"]
        assert run["error"] == "killed for memory: over the 400 MiB limit (1 out-of-memory kill)"
        assert "**killed for memory**" in table
        assert not list(run_course.MemoryLimit.V1.glob("ftlab-course-*")) + list(
            run_course.MemoryLimit.V2.glob("ftlab-course-*"))  # the cgroups were removed


def test_missing_lesson_is_a_clear_error(tmp_path, capsys):
    assert run_course.main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)]) == 2
    assert "no such lesson notebook" in capsys.readouterr().err


def test_per_cell_profile_names_the_cell_that_used_memory(tmp_path, capsys):
    lesson = write_notebook(
        tmp_path / "00_profiled.ipynb",
        "x = 1",
        "import numpy as np\n\nblock = np.ones(250 * 1024 * 1024 // 8)",
        "import os\n\nprint(os.environ['FTLAB_OFFLINE'], os.environ.get('FTLAB_QUICK'))",
    )
    assert run_course.main(["--per-cell", str(lesson)]) == 0
    report = capsys.readouterr().out
    rows = [line for line in report.splitlines() if line.startswith("| ") and line[2].isdigit()]
    cell, peak, rise = (field.strip() for field in rows[0].split("|")[1:4])
    assert cell == "2"  # the allocation, the largest rise
    assert int(rise.replace(",", "").lstrip("+")) >= 250
    assert int(peak.replace(",", "")) >= 250
