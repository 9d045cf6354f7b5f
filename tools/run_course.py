"""Run every lesson in full offline mode and measure it: ``make course``.

Each lesson is executed top to bottom with ``jupyter nbconvert --execute`` under
``FTLAB_OFFLINE=1`` with ``FTLAB_QUICK`` unset (the real lesson, bundled data and weights, no
downloads) and a cold, per-lesson ``FTLAB_CACHE`` (what a learner's first run costs). Written to
``build/course/``:

- ``NAME.ipynb`` and ``NAME.html``: the executed lesson with its outputs;
- ``NAME.log``: nbconvert's messages (the traceback when a lesson fails);
- ``../course.md``: a table of run time and peak memory per lesson, and ``../course.json``.

Memory, three ways:

- the peak resident set size (RSS): the kernel's own peak (``VmHWM`` from ``/proc/PID/status``,
  exact) and the peak of the sum over the whole process tree (nbconvert plus its kernel, sampled
  every 0.2 s). RSS counts the pages of TensorFlow's shared libraries that the process has touched
  (about 0.5 GiB by the end of lesson 03): file-backed pages the operating system can drop and read
  again, so RSS overstates what a container must hold;
- the tree's anonymous memory (``RssAnon``, sampled): what cannot be dropped;
- where the tool may create a memory cgroup (root, cgroup v1 or v2), each lesson runs inside one
  limited to 2 GiB, the mechanism behind Binder's container limit: a lesson that needs more is
  killed by the out-of-memory killer and fails; one that reaches the limit only by its page cache
  has the cache reclaimed and goes on (reported as "limit reached"). The budget then is that the
  lesson ran to the end inside the limit; without a cgroup it is the tree's peak RSS.

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
    tree_anon_peak_mib: float = 0.0
    cgroup_limit_mib: float | None = None  # None: ran without a memory cgroup
    cgroup_peak_mib: float = 0.0
    cgroup_limit_reached: bool = False
    oom_kills: int = 0

    def within_budget(self) -> bool:
        if self.cgroup_limit_mib is not None:
            fits = self.ok and self.oom_kills == 0 and self.cgroup_limit_mib <= MEMORY_BUDGET_MIB
        else:
            fits = self.tree_peak_mib <= MEMORY_BUDGET_MIB
        return self.wall_s <= TIME_BUDGET_S and fits

    def cgroup_summary(self) -> str:
        """What the memory cgroup saw, for the table and the progress line."""
        if self.cgroup_limit_mib is None:
            return "not available (needs root)"
        summary = f"peak {self.cgroup_peak_mib:,.0f} of {self.cgroup_limit_mib:,.0f} MiB"
        if self.oom_kills:
            return summary + ", **killed for memory**"
        return summary + (", limit reached (page cache reclaimed)" if self.cgroup_limit_reached else "")


class MemoryLimit:
    """A memory cgroup (v1 or v2) that caps a lesson's processes, as Binder's container limit does.

    ``create`` returns None where no cgroup can be made (not root, no memory controller): the
    run then falls back to measuring RSS only.
    """

    V1 = Path("/sys/fs/cgroup/memory")
    V2 = Path("/sys/fs/cgroup")

    def __init__(self, path: Path, version: int, limit_mib: float):
        self.path, self.version, self.limit_mib = path, version, limit_mib

    @classmethod
    def create(cls, name: str, limit_mib: float) -> MemoryLimit | None:
        limit = str(int(limit_mib * MIB))
        candidates = []
        if (cls.V1 / "memory.limit_in_bytes").exists():
            candidates.append((cls.V1, 1, "memory.limit_in_bytes"))
        if "memory" in _read(cls.V2 / "cgroup.subtree_control").split():
            candidates.append((cls.V2, 2, "memory.max"))
        for parent, version, limit_file in candidates:
            path = parent / f"ftlab-course-{name}-{os.getpid()}"
            try:
                path.mkdir(exist_ok=True)
                (path / limit_file).write_text(limit)
                if version == 1:  # no swap either (where swap accounting exists)
                    swap_limit = path / "memory.memsw.limit_in_bytes"
                    if swap_limit.exists():
                        swap_limit.write_text(limit)
                return cls(path, version, limit_mib)
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
        return None

    def enter(self) -> None:
        """Move the calling process into the cgroup (``preexec_fn``: the child, before exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def peak_mib(self) -> float:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        text = _read(self.path / name).strip()
        return int(text) / MIB if text.isdigit() else 0.0

    def _counter(self, file: str, key: str) -> int:
        for line in _read(self.path / file).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
        return 0

    def limit_reached(self) -> bool:
        # the peak says it on v1 (whose failcnt stays 0 when the memory+swap limit is the one hit)
        # and on v2 kernels with memory.peak; older v2 kernels only count "max" events
        if self.peak_mib() >= self.limit_mib - 1 or self.oom_kills() > 0:
            return True
        return self.version == 2 and self._counter("memory.events", "max") > 0

    def oom_kills(self) -> int:
        return self._counter("memory.oom_control" if self.version == 1 else "memory.events", "oom_kill")

    def remove(self) -> None:
        for _ in range(50):  # the kernel process may take a moment to leave
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _status_bytes(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` in bytes; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def high_water_mark_bytes(pid: int) -> int:
    """Peak RSS of a live process (Linux ``VmHWM``); 0 when it cannot be read."""
    return _status_bytes(pid, "VmHWM")


def is_kernel(process: psutil.Process) -> bool:
    try:
        return any("ipykernel" in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def run_measured(
    command: list[str], env: dict, log_path: Path, timeout_s: float, limit: MemoryLimit | None = None
) -> tuple[int, float, float, float, float]:
    """Run ``command`` (inside ``limit``'s cgroup if given).

    Returns (exit code, wall seconds, kernel peak MiB, tree peak MiB, tree anonymous peak MiB).
    """
    start = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                   preexec_fn=limit.enter if limit else None)
        root = psutil.Process(process.pid)
        tree_peak = kernel_peak = anon_peak = 0
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = anon = 0
            for member in tree:
                try:
                    rss = member.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                anon += _status_bytes(member.pid, "RssAnon")
                if is_kernel(member):
                    # the kernel counts with its exact high-water mark: sampling every POLL_S alone
                    # misses a short spike (a cell that allocates and frees between two samples)
                    kernel_peak = max(kernel_peak, high_water_mark_bytes(member.pid))
                    rss = max(rss, kernel_peak)
                total += rss
            tree_peak = max(tree_peak, total)
            anon_peak = max(anon_peak, anon)
            if time.monotonic() - start > timeout_s:
                for member in reversed(tree):
                    try:
                        member.kill()
                    except psutil.NoSuchProcess:
                        pass
                process.wait()
                return -9, time.monotonic() - start, kernel_peak / MIB, tree_peak / MIB, anon_peak / MIB
            time.sleep(POLL_S)
        code = process.wait()
    return code, time.monotonic() - start, kernel_peak / MIB, tree_peak / MIB, anon_peak / MIB


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


def run_lesson(notebook: Path, out_dir: Path, quick: bool, timeout_s: float, html: bool,
               memory_limit_mib: float | None = MEMORY_BUDGET_MIB) -> LessonRun:
    """Execute one lesson into ``out_dir`` and measure it (in a memory cgroup where one can be made)."""
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
    limit = MemoryLimit.create(name, memory_limit_mib) if memory_limit_mib else None
    try:
        code, wall, kernel_peak, tree_peak, anon_peak = run_measured(command, env, log_path, timeout_s + 60, limit)
        cgroup_peak, limit_reached, oom_kills = (
            (limit.peak_mib(), limit.limit_reached(), limit.oom_kills()) if limit else (0.0, False, 0)
        )
    finally:
        if limit:
            limit.remove()
    executed = out_dir / f"{name}.ipynb"
    if code == 0:
        error = ""
    elif oom_kills:
        error = f"killed for memory: over the {memory_limit_mib:,.0f} MiB limit ({oom_kills} out-of-memory kill)"
    else:
        error = f"timed out after {timeout_s:.0f} s" if code == -9 else last_error(log_path)
    if html and executed.exists():
        with open(log_path, "ab") as log:
            subprocess.run(
                [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(out_dir), str(executed)],
                env=env, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=ROOT,
            )  # fmt: skip
    return LessonRun(name, code == 0, round(wall, 1), round(kernel_peak, 1), round(tree_peak, 1), error,
                     tree_anon_peak_mib=round(anon_peak, 1), cgroup_limit_mib=limit.limit_mib if limit else None,
                     cgroup_peak_mib=round(cgroup_peak, 1), cgroup_limit_reached=limit_reached,
                     oom_kills=oom_kills)


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
        "| lesson | result | run time | peak RSS (kernel) | peak RSS (kernel + nbconvert) "
        "| of it anonymous (sampled) | in a memory cgroup "
        f"| within {TIME_BUDGET_S // 60} min / {MEMORY_BUDGET_MIB / 1024:g} GiB |",
        "|---|---|---:|---:|---:|---:|---|:---:|",
    ]
    for run in runs:
        result = "ran" if run.ok else f"**failed**: {run.error}"
        lines.append(
            f"| {run.lesson} | {result} | {_minutes(run.wall_s)} | {run.kernel_peak_mib:,.0f} MiB "
            f"| {run.tree_peak_mib:,.0f} MiB | {run.tree_anon_peak_mib:,.0f} MiB | {run.cgroup_summary()} "
            f"| {'✓' if run.within_budget() else '✗'} |"
        )
    total = sum(run.wall_s for run in runs)
    lines += ["", f"Total: {_minutes(total)} for {len(runs)} lessons.", "",
              "RSS counts the shared-library pages a process touched (file-backed, droppable); "
              "anonymous memory cannot be dropped. Where a memory cgroup was available, the memory "
              "budget is that the lesson ran to the end inside it (the mechanism of Binder's limit); "
              "otherwise it is the peak RSS of kernel + nbconvert."]
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
        "--memory-limit", type=float, default=MEMORY_BUDGET_MIB, metavar="MIB",
        help=f"run each lesson in a memory cgroup of this size where possible (default {MEMORY_BUDGET_MIB}; 0: none)",
    )
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
        run = run_lesson(notebook, out_dir, args.quick, args.timeout, html=not args.no_html,
                         memory_limit_mib=args.memory_limit)
        status = "ok" if run.ok else f"FAILED ({run.error})"
        print(
            f"  {status}: {_minutes(run.wall_s)}, peak RSS kernel {run.kernel_peak_mib:,.0f} MiB, "
            f"tree {run.tree_peak_mib:,.0f} MiB (anonymous {run.tree_anon_peak_mib:,.0f}), "
            f"memory cgroup: {run.cgroup_summary()}",
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
