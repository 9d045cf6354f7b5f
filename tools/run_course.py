"""Run every lesson in full offline mode and measure it: ``make course``.

Each lesson is executed top to bottom with ``jupyter nbconvert --execute`` under
``FTLAB_OFFLINE=1`` with ``FTLAB_QUICK`` unset (the real lesson, bundled data and weights, no
downloads) and a cold, per-lesson ``FTLAB_CACHE`` (what a learner's first run costs). Written to
``build/course/``:

- ``NAME.ipynb`` and ``NAME.html``: the executed lesson with its outputs;
- ``NAME.log``: nbconvert's messages (the traceback when a lesson fails);
- ``../course.md``: a table of run time and peak memory per lesson, and ``../course.json``.

Memory is the peak resident set size (RSS): the kernel's own peak (``VmHWM`` from
``/proc/PID/status``, exact) and the peak of the sum over the whole process tree (nbconvert plus
its kernel, sampled every 0.2 s), which stands in for Binder's container limit.

Usage:
    python tools/run_course.py                 # all lessons (notebooks/NN_*.ipynb)
    python tools/run_course.py notebooks/01_image_classification.ipynb
    python tools/run_course.py --quick         # FTLAB_QUICK=1, a fast smoke run of the same thing
    python tools/run_course.py --per-cell notebooks/00_pretrained_models.ipynb  # which cells use memory

Exit status 1 when a lesson fails or goes over the budget (8 min, 2 GiB; ``--no-budget`` only
reports).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
LESSON_PATTERN = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
TIME_BUDGET_S = 8 * 60
MEMORY_BUDGET_MIB = 2048  # Binder's limit is 2 GiB for everything in the container
POLL_S = 0.2
MIB = 1024 * 1024


@dataclass
class LessonRun:
    """What running one lesson cost."""

    lesson: str
    ok: bool
    wall_s: float
    kernel_peak_mib: float
    tree_peak_mib: float
    error: str = ""

    def within_budget(self) -> bool:
        return self.wall_s <= TIME_BUDGET_S and self.tree_peak_mib <= MEMORY_BUDGET_MIB


def high_water_mark_bytes(pid: int) -> int:
    """Peak RSS of a live process (Linux ``VmHWM``); 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def is_kernel(process: psutil.Process) -> bool:
    try:
        return any("ipykernel" in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def run_measured(
    command: list[str], env: dict, log_path: Path, timeout_s: float
) -> tuple[int, float, float, float]:
    """Run ``command``; return (exit code, wall seconds, kernel peak MiB, tree peak MiB)."""
    start = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        root = psutil.Process(process.pid)
        tree_peak = kernel_peak = 0
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for member in tree:
                try:
                    rss = member.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                if is_kernel(member):
                    # the kernel counts with its exact high-water mark: sampling every POLL_S alone
                    # misses a short spike (a cell that allocates and frees between two samples)
                    kernel_peak = max(kernel_peak, high_water_mark_bytes(member.pid))
                    rss = max(rss, kernel_peak)
                total += rss
            tree_peak = max(tree_peak, total)
            if time.monotonic() - start > timeout_s:
                for member in reversed(tree):
                    try:
                        member.kill()
                    except psutil.NoSuchProcess:
                        pass
                process.wait()
                return -9, time.monotonic() - start, kernel_peak / MIB, tree_peak / MIB
            time.sleep(POLL_S)
        code = process.wait()
    return code, time.monotonic() - start, kernel_peak / MIB, tree_peak / MIB


def lesson_environment(cache: Path, quick: bool) -> dict:
    env = dict(os.environ)
    env.update(FTLAB_OFFLINE="1", FTLAB_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, so the HTML shows the figures
    if quick:
        env["FTLAB_QUICK"] = "1"
    else:
        env.pop("FTLAB_QUICK", None)
    return env


def last_error(log_path: Path) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(errors="replace"))  # drop terminal colours
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|CheckFailed)\b", line)]
    return (errors or lines or ["(no output)"])[-1].strip()[:300]


def run_lesson(notebook: Path, out_dir: Path, quick: bool, timeout_s: float, html: bool) -> LessonRun:
    """Execute one lesson into ``out_dir`` and measure it."""
    name = notebook.stem
    cache = out_dir / "cache" / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    env = lesson_environment(cache, quick)
    log_path = out_dir / f"{name}.log"
    command = [
        sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
        f"--ExecutePreprocessor.timeout={int(timeout_s)}", "--ExecutePreprocessor.kernel_name=python3",
        "--output-dir", str(out_dir), "--output", name, str(notebook),
    ]  # fmt: skip
    code, wall, kernel_peak, tree_peak = run_measured(command, env, log_path, timeout_s + 60)
    executed = out_dir / f"{name}.ipynb"
    error = (
        "" if code == 0 else (f"timed out after {timeout_s:.0f} s" if code == -9 else last_error(log_path))
    )
    if html and executed.exists():
        with open(log_path, "ab") as log:
            subprocess.run(
                [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(out_dir), str(executed)],
                env=env, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=ROOT,
            )  # fmt: skip
    return LessonRun(name, code == 0, round(wall, 1), round(kernel_peak, 1), round(tree_peak, 1), error)


def profile_cells(notebook: Path, quick: bool, timeout_s: float, top: int = 8) -> str:
    """Run a lesson in this process with nbclient; report the cells that raised the kernel's peak RSS."""
    import nbclient
    import nbformat

    cache = ROOT / "build" / "course" / "cache" / f"{notebook.stem}-profile"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    executed = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(
        executed,
        timeout=int(timeout_s),
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    rows = []
    started = time.monotonic()

    def after_cell(cell, cell_index, **_):
        pid = client.km.provisioner.process.pid
        rss = psutil.Process(pid).memory_info().rss / MIB
        rows.append(
            (cell_index, high_water_mark_bytes(pid) / MIB, rss, time.monotonic() - started, cell.source)
        )

    client.on_cell_executed = after_cell
    client.execute(env=lesson_environment(cache, quick))
    shutil.rmtree(cache, ignore_errors=True)
    lines = [f"{notebook.name}: kernel peak RSS {rows[-1][1]:,.0f} MiB; cells that raised it most:", ""]
    lines.append("| cell | peak after (MiB) | peak rise (MiB) | RSS after (MiB) | at (s) | first line |")
    lines.append("|---:|---:|---:|---:|---:|---|")
    rises = []
    previous_peak = 0.0
    for index, peak, rss, at, source in rows:
        rises.append((peak - previous_peak, index, peak, rss, at, source))
        previous_peak = peak
    for rise, index, peak, rss, at, source in sorted(rises, reverse=True)[:top]:
        first = next((line for line in source.splitlines() if line.strip()), "")[:70].replace("|", "\\|")
        lines.append(f"| {index} | {peak:,.0f} | {rise:+,.0f} | {rss:,.0f} | {at:.0f} | `{first}` |")
    return "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _versions() -> str:
    found = []
    for package in ("tensorflow", "keras"):
        try:
            from importlib.metadata import version

            found.append(f"{package} {version(package)}")
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def machine_description() -> str:
    memory = psutil.virtual_memory().total / 1024**3
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}"


def markdown_table(runs: list[LessonRun], quick: bool) -> str:
    mode = (
        "quick offline (`FTLAB_QUICK=1`)"
        if quick
        else "full offline (`FTLAB_OFFLINE=1`, `FTLAB_QUICK` unset)"
    )
    lines = [
        "# Course run: time and memory per lesson",
        "",
        f"Measured by `make course` (`tools/run_course.py`) on {dt.date.today().isoformat()}: {mode},",
        f"cold cache, {machine_description()}, {_versions()}.",
        "",
        f"| lesson | result | run time | peak memory (kernel) | peak memory (kernel + nbconvert) "
        f"| within {TIME_BUDGET_S // 60} min / {MEMORY_BUDGET_MIB / 1024:g} GiB |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for run in runs:
        result = "ran" if run.ok else f"**failed**: {run.error}"
        lines.append(
            f"| {run.lesson} | {result} | {_minutes(run.wall_s)} | {run.kernel_peak_mib:,.0f} MiB "
            f"| {run.tree_peak_mib:,.0f} MiB | {'✓' if run.within_budget() else '✗'} |"
        )
    total = sum(run.wall_s for run in runs)
    lines += ["", f"Total: {_minutes(total)} for {len(runs)} lessons."]
    return "\n".join(lines) + "\n"


def find_lessons(notebooks: Path) -> list[Path]:
    return [path for path in sorted(notebooks.glob("*.ipynb")) if LESSON_PATTERN.match(path.name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute every lesson (full offline mode) and measure it.")
    parser.add_argument(
        "lessons", nargs="*", type=Path, help="lesson notebooks (default: notebooks/NN_*.ipynb)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument(
        "--quick", action="store_true", help="set FTLAB_QUICK=1 (a smoke run, not the course)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per lesson before it is stopped")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    parser.add_argument("--no-budget", action="store_true", help="report budget overruns without failing")
    parser.add_argument(
        "--per-cell",
        action="store_true",
        help="profile memory cell by cell instead (for fitting a lesson in 2 GiB)",
    )
    args = parser.parse_args(argv)

    lessons = [path.resolve() for path in args.lessons] or find_lessons(ROOT / "notebooks")
    missing = [str(path) for path in lessons if not path.is_file()]
    if missing or not lessons:
        print(
            f"error: no such lesson notebook: {', '.join(missing) or 'notebooks/NN_*.ipynb'}", file=sys.stderr
        )
        return 2
    if args.per_cell:
        for notebook in lessons:
            print(profile_cells(notebook, args.quick, args.timeout), flush=True)
        return 0
    args.out = args.out.resolve()  # the kernels run in the lesson's folder: relative paths would land there
    out_dir = args.out / "course"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for notebook in lessons:
        print(f"running {notebook.name} ...", flush=True)
        run = run_lesson(notebook, out_dir, args.quick, args.timeout, html=not args.no_html)
        status = "ok" if run.ok else f"FAILED ({run.error})"
        print(
            f"  {status}: {_minutes(run.wall_s)}, peak RSS kernel {run.kernel_peak_mib:,.0f} MiB, "
            f"tree {run.tree_peak_mib:,.0f} MiB",
            flush=True,
        )
        runs.append(run)
    shutil.rmtree(out_dir / "cache", ignore_errors=True)
    table = markdown_table(runs, args.quick)
    (args.out / "course.md").write_text(table)
    (args.out / "course.json").write_text(json.dumps([asdict(run) for run in runs], indent=2) + "\n")
    print(f"\n{table}\nwritten: {args.out / 'course.md'}, executed notebooks and HTML in {out_dir}")
    failed = [run.lesson for run in runs if not run.ok]
    over = [run.lesson for run in runs if not run.within_budget()]
    if failed:
        print(f"failed: {', '.join(failed)} (see build/course/NAME.log)", file=sys.stderr)
    if over and not args.no_budget:
        print(f"over the {TIME_BUDGET_S // 60} min / 2 GiB budget: {', '.join(over)}", file=sys.stderr)
    return 1 if failed or (over and not args.no_budget) else 0


if __name__ == "__main__":
    sys.exit(main())
