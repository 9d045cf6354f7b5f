"""A real browser test: JupyterLab + headless Chromium, driven like a learner would.

The test starts JupyterLab on 127.0.0.1 (random port, random token, throw-away settings and
runtime folders), opens a notebook in Debian's ``chromium`` through Playwright for Python
(``executable_path`` points at the system browser; Playwright's own browser download is never
used), runs cells from the Run menu and the keyboard, moves an ipywidgets slider with the
keyboard, clicks the blocks of lesson 01's network map, and reads what the page renders.
Screenshots of each step go to ``build/browser/``; the map alone, at three selections, to
``build/screenshots/map-*.png`` (``tools/readme_screenshot.py`` copies one for the README).

The server (with its kernels) and the browser are shut down in ``finally`` blocks, so a failing
assertion never leaves processes behind; ``test_harness_cleans_up_when_a_test_fails`` proves it.

Set ``FTLAB_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError as error:  # pragma: no cover - only on a half-installed environment
    raise ImportError(
        "tests/test_browser.py needs Playwright for Python: run `make install` (requirements.txt pins it)"
    ) from error

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = REPO / "build" / "browser"
MAP_SCREENSHOTS = REPO / "build" / "screenshots"  # the network map alone, at three selections
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 90_000
SLIDER_LABEL = "unfreeze top k"
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
READOUT_PREFIX = "trainable parameters:"


def chromium_path() -> str:
    """The system Chromium: ``FTLAB_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    candidates = [os.environ.get("FTLAB_CHROMIUM", ""), "chromium", "chromium-browser"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "no Chromium found: `make test` installs Debian's package (apt-get install -y chromium), "
        "or set FTLAB_CHROMIUM=/path/to/chromium"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """A JupyterLab server on 127.0.0.1 with isolated config, data, settings and runtime folders."""

    def __init__(self, root: Path, state: Path):
        self.root = root
        self.state = state
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.log_path = state / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def _environment(self) -> dict:
        env = dict(os.environ)
        for name, folder in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("IPYTHONDIR", "ipython"),
        ]:
            env[name] = str(self.state / folder)
        env.update(FTLAB_OFFLINE="1", FTLAB_QUICK="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in a learner's JupyterLab
        return env

    def _write_settings(self) -> None:
        # Every cell attached to the page (no virtual scrolling) and no news/update toasts on top.
        settings = {
            "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        }
        for plugin, values in settings.items():
            path = self.state / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def start(self) -> None:
        self._write_settings()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        """Call the Jupyter Server REST API; returns the decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def kernel_state(self, notebook: str) -> str | None:
        """``execution_state`` of the kernel the server runs for ``notebook`` (None: no session yet)."""
        for session in self.api("api/sessions"):
            if session.get("path") == notebook and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def processes(self) -> list[psutil.Process]:
        """The server and everything it started (kernels run in their own sessions, so not killpg)."""
        if self.process is None:
            return []
        try:
            server = psutil.Process(self.process.pid)
            return [server, *server.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.process is None:
            return
        tree = self.processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        _, alive = psutil.wait_procs(tree, timeout=10)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=5)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def lab_server(root: Path, state: Path):
    server = LabServer(root, state)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium_page():
    """A headless Chromium page; yields ``(page, processes)`` where processes are the browser's."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            launched = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
            yield page, launched
        finally:
            browser.close()


class Shots:
    """Numbered screenshots in ``build/browser/<test name>-NN-<step>.png``."""

    def __init__(self, name: str):
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.name}-*.png"):
            old.unlink()

    def take(self, page, step: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.name}-{self.count:02d}-{step}.png"
        with contextlib.suppress(Exception):  # a screenshot must never hide the real failure
            page.screenshot(path=str(path), full_page=False)
        return path


# --- driving JupyterLab ---------------------------------------------------------------------------

_CELL_STATES_JS = """
(CELLS) => [...document.querySelectorAll(CELLS)]
  .map(cell => ({
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    source: [...cell.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent).join('\\n'),
    error: !!cell.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
           && /Traceback \\(most recent call last\\)/.test((cell.querySelector('.jp-OutputArea') || {}).textContent || ''),
    output: ((cell.querySelector('.jp-OutputArea') || {}).textContent || '').slice(-1500),
  }))
"""


def cell_states(page) -> list[dict]:
    return page.evaluate(_CELL_STATES_JS, CELLS)


def kernel_idle(page) -> bool:
    return page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0


def open_notebook(page, server: LabServer, name: str, shots: Shots) -> None:
    """Open ``name`` (relative to the server root); wait for all its cells and an idle kernel."""
    expected = len(nbformat.read(server.root / name, as_version=4).cells)
    page.goto(server.url(f"lab/tree/{name}"))
    page.locator(CELLS).first.wait_for()
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    # The panel shows one empty cell until the file's content arrives, and the indicator reads
    # idle before the kernel exists: wait for the server's session and a settled page.
    while not (
        page.locator(CELLS).count() == expected
        and server.kernel_state(name) == "idle"
        and _still_idle(page, 1.0)
    ):
        if time.monotonic() > deadline:
            shots.take(page, "not-ready")
            raise AssertionError(
                f"{name}: {page.locator(CELLS).count()} of {expected} cells shown or kernel not idle "
                f"after {PAGE_TIMEOUT_MS // 1000} s:\n{server.log_tail()}"
            )
        time.sleep(0.25)
    shots.take(page, "opened")


def wait_until_run(page, indices: list[int], timeout_s: float, shots: Shots, server: LabServer) -> None:
    """Wait until the code cells at ``indices`` show an execution count; fail on a traceback."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = cell_states(page)
        for i in indices:
            if states[i]["error"]:
                shots.take(page, "cell-error")
                raise AssertionError(f"cell {i} raised:\n{states[i]['source'][:300]}\n{states[i]['output']}")
        if all(re.fullmatch(r"\[\d+\]:", states[i]["prompt"].strip()) for i in indices):
            return
        stalled = [i for i in indices if states[i]["prompt"].strip() in ("[ ]:", "")]
        if time.monotonic() > deadline or (stalled and kernel_idle(page) and _still_idle(page)):
            shots.take(page, "cells-not-run")
            raise AssertionError(
                f"cells {stalled or indices} did not run within {timeout_s:.0f} s; prompts: "
                f"{[states[i]['prompt'] for i in indices]}\n{server.log_tail(1500)}"
            )
        time.sleep(0.5)


def _still_idle(page, seconds: float = 3.0) -> bool:
    """Idle for a while (the kernel flickers idle between queued cells)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not kernel_idle(page):
            return False
        time.sleep(0.25)
    return True


def find_cell(page, marker: str) -> int:
    """Index of the first cell whose source contains ``marker``."""
    for index, state in enumerate(cell_states(page)):
        if marker in state["source"]:
            return index
    raise AssertionError(f"no cell contains {marker!r}")


def select_cell(page, index: int) -> None:
    cell = page.locator(CELLS).nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-prompt").click()  # the prompt selects the cell in command mode


def run_up_to(page, index: int, server: LabServer, shots: Shots, timeout_s: float) -> None:
    """Run every cell above ``index`` from the Run menu, then the cell itself with Shift+Enter."""
    states = cell_states(page)
    above = [i for i in range(index) if states[i]["code"]]
    select_cell(page, index)
    if above:
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Above Selected Cell")).click()
        wait_until_run(page, above, timeout_s, shots, server)
        shots.take(page, "ran-cells-above")
    select_cell(page, index)
    page.keyboard.press("Shift+Enter")
    wait_until_run(page, [index], timeout_s, shots, server)


def panel_readout(page, index: int) -> str:
    cell = page.locator(CELLS).nth(index)
    readout = cell.locator(".jp-OutputArea .widget-label, .jp-OutputArea .widget-html-content").filter(
        has_text=READOUT_PREFIX
    )
    readout.first.wait_for()
    return readout.first.inner_text().strip()


def slider_in(page, index: int):
    cell = page.locator(CELLS).nth(index)
    slider = cell.locator(".widget-slider", has_text=SLIDER_LABEL).first
    slider.wait_for()
    return slider


def slider_value(slider) -> int:
    return int(slider.locator(".widget-readout").inner_text().strip())


def parse_count(readout: str) -> int:
    match = re.search(re.escape(READOUT_PREFIX) + r"\s*([\d,_ ]+)", readout)
    assert match, f"read-out {readout!r} does not start with {READOUT_PREFIX!r} and a number"
    return int(re.sub(r"[^\d]", "", match.group(1)))


def wait_for_count(page, index: int, expected: int, timeout_s: float = 30) -> str:
    """Wait until the panel's read-out shows ``expected`` trainable parameters; returns its text."""
    deadline = time.monotonic() + timeout_s
    text = panel_readout(page, index)
    while parse_count(text) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the read-out shows {text!r}, expected {expected:,} after {timeout_s:.0f} s"
            )
        time.sleep(0.2)
        text = panel_readout(page, index)
    return text


def move_slider_right(page, slider, steps: int) -> None:
    """Move the slider like a learner with the keyboard: click its handle, press → ``steps`` times."""
    handle = slider.locator(".noUi-handle").first
    handle.click()
    for _ in range(steps):
        handle.press("ArrowRight")


def run_probe_below(
    page, index: int, code: str, server: LabServer, shots: Shots, timeout_s: float = 60
) -> str:
    """Insert a code cell below cell ``index`` (key B), type ``code``, run it; return its output text."""
    select_cell(page, index)
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(code)  # no auto-closed brackets, unlike typing key by key
    page.keyboard.press("Shift+Enter")
    wait_until_run(page, [index + 1], timeout_s, shots, server)
    return cell_states(page)[index + 1]["output"].strip()


def map_count(network_map) -> int:
    """The trainable count the map's read-out shows on the page."""
    return parse_count(network_map.locator(".ftlab-map-count").first.inner_text())


def wait_for_map(network_map, done, what: str, timeout_s: float = 30) -> None:
    """Wait until ``done()`` holds (the kernel answered a click), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: after {timeout_s:.0f} s the map reads {map_count(network_map):,}"
        time.sleep(0.2)
    time.sleep(0.5)  # let the redraw that follows the last trait change land


def keras_trainable(page, index: int, model_variable: str, server: LabServer, shots: Shots) -> int:
    """Trainable parameters as Keras counts them, from a probe cell run below ``index``."""
    probe = f"import math; print('KERAS', sum(math.prod(v.shape) for v in {model_variable}.trainable_weights))"
    output = run_probe_below(page, index, probe, server, shots)
    match = re.search(r"KERAS (\d+)", output)
    assert match, f"probe cell printed {output!r}"
    return int(match.group(1))


def apply_on_page(network_map) -> None:
    """Press the map's Apply and wait until the kernel reports the count the read-out shows."""
    status = network_map.locator(".ftlab-map-status")
    expected = f"applied: {map_count(network_map):,} trainable"
    network_map.locator("button.ftlab-map-apply").click()
    deadline = time.monotonic() + 30
    while not status.inner_text().startswith(expected):
        assert time.monotonic() < deadline, f"Apply: status reads {status.inner_text()!r}, expected {expected!r}"
        time.sleep(0.2)


def map_shot(network_map, name: str) -> Path:
    """A screenshot of the map alone, ``build/screenshots/<name>.png`` (the README's comes from here)."""
    MAP_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    network_map.page.mouse.move(0, 0)  # no hover outline on the block clicked last
    path = MAP_SCREENSHOTS / f"{name}.png"
    network_map.screenshot(path=str(path))
    return path


def drive_network_map(page, server: LabServer, name: str, shots: Shots, timeout_s: float) -> dict:
    """Open ``name``, run its network-map cell, click blocks, apply, and compare with Keras.

    Three selections, each screenshotted, applied with the map's Apply and counted by Keras in the
    kernel: everything frozen (as the lesson leaves it), the top two stages (a click on each of
    their blocks), everything (the slider's End key). Returns ``{selection: (shown, keras)}``.
    """
    open_notebook(page, server, name, shots)
    index = find_cell(page, "NetworkMap(")
    source = cell_states(page)[index]["source"]
    found = re.search(r"NetworkMap\((\w+)", source)
    assert found, f"the network-map cell does not pass a model variable to NetworkMap:\n{source}"
    model_variable = found.group(1)
    run_up_to(page, index, server, shots, timeout_s)
    network_map = page.locator(CELLS).nth(index).locator(".jp-OutputArea .ftlab-map").first
    network_map.wait_for()
    network_map.locator(".ftlab-map-count").first.wait_for()
    network_map.scroll_into_view_if_needed()
    seen = {}

    frozen = map_count(network_map)
    assert network_map.locator('.ftlab-map-block[data-state="frozen"]').count() == network_map.locator(
        ".ftlab-map-block").count(), "the lesson's model starts with every block frozen"
    apply_on_page(network_map)
    map_shot(network_map, "map-all-frozen")
    seen["all frozen"] = (frozen, keras_trainable(page, index, model_variable, server, shots))

    for block in ("block16", "head"):  # stage7 is block16 alone; the head stage is the head convolution
        network_map.locator(f'.ftlab-map-block[data-block="{block}"]').click()
    wait_for_map(network_map, lambda: network_map.locator('.ftlab-map-block[data-state="frozen"]').count()
                 == network_map.locator(".ftlab-map-block").count() - 2 and map_count(network_map) != frozen,
                 "two clicked blocks")
    assert network_map.locator(".ftlab-map-k").inner_text().strip() == "2", "the slider follows the clicks"
    top2 = map_count(network_map)
    apply_on_page(network_map)
    map_shot(network_map, "map-top-2-stages")
    shots.take(page, "map-top-2-stages")
    seen["top 2 stages"] = (top2, keras_trainable(page, index, model_variable, server, shots))

    slider = network_map.locator('input[type="range"]')
    slider.focus()
    slider.press("End")
    slider.blur()  # no focus ring in the screenshot
    wait_for_map(network_map, lambda: network_map.locator('.ftlab-map-block[data-state="frozen"]').count() == 0
                 and map_count(network_map) > top2, "slider to the end")
    everything = map_count(network_map)
    apply_on_page(network_map)
    map_shot(network_map, "map-everything")
    seen["everything"] = (everything, keras_trainable(page, index, model_variable, server, shots))
    shots.take(page, "map-applied")
    return seen


# --- tests ----------------------------------------------------------------------------------------

SCRATCH_PANEL = """\
import ipywidgets as widgets

slider = widgets.IntSlider(value=1, min=0, max=10, description="unfreeze top k")
readout = widgets.Label()


def show(change=None):
    readout.value = f"trainable parameters: {1000 * slider.value + offset:,}"


slider.observe(show, "value")
show()
widgets.VBox([slider, readout])"""


def write_scratch_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Scratch panel"),
        nbformat.v4.new_code_cell("offset = 7"),
        nbformat.v4.new_code_cell(SCRATCH_PANEL),
    ]
    nbformat.write(notebook, path)


def test_scratch_panel_slider_updates_readout(tmp_path, request):
    """The harness itself, on an IntSlider + Label notebook: count = 1000·k + 7."""
    root = tmp_path / "root"
    root.mkdir()
    write_scratch_notebook(root / "scratch.ipynb")
    shots = Shots(request.node.name)
    with lab_server(root, tmp_path / "state") as server, chromium_page() as (page, _):
        try:
            open_notebook(page, server, "scratch.ipynb", shots)
            index = find_cell(page, "unfreeze top k")
            run_up_to(page, index, server, shots, timeout_s=60)
            slider = slider_in(page, index)
            before = panel_readout(page, index)
            assert slider_value(slider) == 1
            assert parse_count(before) == 1_007
            shots.take(page, "panel")
            move_slider_right(page, slider, steps=3)
            wait_for_count(page, index, 4_007)
            shots.take(page, "moved")
            assert slider_value(slider) == 4
        except BaseException:
            shots.take(page, "failure")
            raise


def test_harness_reports_a_failing_cell_and_cleans_up(tmp_path, request):
    """A traceback fails the test with the cell's error, and JupyterLab, its kernel and Chromium stop."""
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Broken"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("x / 0"),
        nbformat.v4.new_code_cell("never = True"),
    ]
    nbformat.write(notebook, root / "broken.ipynb")
    shots = Shots(request.node.name)
    processes: list[psutil.Process] = []
    with pytest.raises(AssertionError, match=r"cell 2 raised:\nx / 0\n[\s\S]*ZeroDivisionError"):
        with lab_server(root, tmp_path / "state") as server, chromium_page() as (page, browser_processes):
            open_notebook(page, server, "broken.ipynb", shots)
            processes = server.processes() + browser_processes
            kernels = [p for p in server.processes() if "ipykernel" in " ".join(p.cmdline())]
            assert len(kernels) == 1 and browser_processes, (kernels, browser_processes)
            run_up_to(page, find_cell(page, "never = True"), server, shots, timeout_s=60)
    _, alive = psutil.wait_procs(processes, timeout=20)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


def lesson_01() -> Path:
    found = sorted(NOTEBOOKS.glob("01_*.ipynb"))
    assert found, "lesson 01 (notebooks/01_*.ipynb) is missing; the browser test drives its network map"
    return found[0]


def test_lesson_01_network_map_in_jupyterlab(tmp_path, request):
    """Lesson 01 in JupyterLab: clicks on the network map change the read-out to what Keras will train."""
    lesson = lesson_01()
    root = tmp_path / "root"
    # A copy, so JupyterLab's autosave can never write outputs into the repository's notebooks.
    (root / "notebooks").mkdir(parents=True)
    for notebook in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy2(notebook, root / "notebooks" / notebook.name)
    shots = Shots(request.node.name)
    with lab_server(root, tmp_path / "state") as server, chromium_page() as (page, _):
        try:
            seen = drive_network_map(page, server, f"notebooks/{lesson.name}", shots, timeout_s=150)
        except BaseException:
            shots.take(page, "failure")
            raise
    for selection, (shown, keras_count) in seen.items():
        assert shown == keras_count, (
            f"{selection}: the map says {shown:,} trainable parameters, Keras trains {keras_count:,} after Apply"
        )
    counts = [shown for shown, _ in seen.values()]
    assert counts == sorted(set(counts)), f"each selection trains more than the one before: {seen}"
