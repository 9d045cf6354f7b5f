import os

import pytest

os.environ.setdefault("FTLAB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Whole-system tests (a real browser, `make lab`, Binder's files, the course runner, every solutions
# notebook's build) are marked slow: `make unit` leaves them out for a fast developer loop, and
# `make test` (CI) runs them all. Nothing is skipped: a slow test is either selected or deselected.
SLOW_MODULES = {"test_browser", "test_makefile", "test_binder", "test_run_course", "test_solutions"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own FTLAB_CACHE so caches never leak between tests or into ~/.cache."""
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path_factory.mktemp("ftlab-cache")))


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """One FTLAB_CACHE for the whole session holding SmolLM2's converted weights (converted once, ~20 s)."""
    return tmp_path_factory.mktemp("smollm2-cache")


@pytest.fixture(autouse=True)
def _answers_not_required():
    """``ftlab.checks.require_answers()`` is global: a test that switches it on never leaks it."""
    yield
    from ftlab import checks

    checks.require_answers(False)


# .keras files that are valid zips but no Keras model: each must be a one-line ModelError.
NOT_KERAS_MODELS = {
    "notes.keras": {"notes.txt": "a zip, but no model"},
    "list.keras": {"config.json": "[1, 2]", "metadata.json": "{}"},
    "number.keras": {"config.json": "3", "metadata.json": "{}"},
    "unknown.keras": {
        "config.json": '{"class_name": "NoSuchLayer", "module": "nowhere", "config": {}}',
        "metadata.json": "{}",
    },
    "badmeta.keras": {"ftlab.json": "[]", "config.json": "{}"},
}


def write_not_keras_models(folder):
    """Write :data:`NOT_KERAS_MODELS` into ``folder``; returns their paths."""
    import zipfile

    paths = []
    for name, entries in NOT_KERAS_MODELS.items():
        with zipfile.ZipFile(folder / name, "w") as archive:
            for entry, text in entries.items():
                archive.writestr(entry, text)
        paths.append(folder / name)
    return paths


def write_photo_folder(root, per_class=8, size=128, seed=0):
    """Write a small folder of real-looking photos: random crops of scikit-image's cat and coffee photos."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = {"cat": data.chelsea(), "coffee": data.coffee()}
    for name, photo in sources.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        h, w = photo.shape[:2]
        for i in range(per_class):
            crop = int(min(h, w) * rng.uniform(0.7, 1.0))
            top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            image = Image.fromarray(photo[top:top + crop, left:left + crop]).resize((size, size))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image.save(folder / f"{name}_{i:03d}.jpg", quality=90)
    return root


@pytest.fixture
def photo_folder(tmp_path):
    return write_photo_folder(tmp_path / "photos")


def jupyter_landing_page(arguments, env, tmp_path, probe_paths=()):
    """Start JupyterLab with ``arguments`` on a free port; return where ``/`` redirects, and probes.

    Args:
        arguments: JupyterLab options (``--ServerApp.root_dir=…`` …), after ``python -m jupyterlab``.
        env: the server's environment.
        tmp_path: for the runtime folder and the server's log.
        probe_paths: URL paths to GET once the server answers; their HTTP status codes are returned.

    Returns:
        (the ``Location`` that ``/`` redirects to, {path: status}). The server is always stopped.
    """
    import secrets
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = dict(env, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    command = [sys.executable, "-m", "jupyterlab", *arguments, "--no-browser", "--ServerApp.ip=127.0.0.1"]
    command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        opener = urllib.request.build_opener(NoRedirect)
        deadline = time.monotonic() + 60
        location = None
        while location is None:
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"no redirect from JupyterLab on {port}:\n{log.read_text()[-2000:]}"
            try:
                with opener.open(f"http://127.0.0.1:{port}/?token={token}", timeout=2) as response:
                    pytest.fail(f"/ answered {response.status} instead of redirecting")
            except urllib.error.HTTPError as response:
                assert response.code in (301, 302, 303, 307), f"/ answered {response.code}"
                location = response.headers["Location"]
            except OSError:
                time.sleep(0.3)
        statuses = {}
        for path in probe_paths:
            try:
                with opener.open(f"http://127.0.0.1:{port}{path}?token={token}", timeout=10) as response:
                    statuses[path] = response.status
            except urllib.error.HTTPError as response:
                statuses[path] = response.code
        return location, statuses
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture
def refused_before_work(monkeypatch):
    """Fail the test if a CLI command gets as far as reading images or clips, loading a language
    model, or training."""
    from ftlab import train
    from ftlab.data import images
    from ftlab.text import model
    from ftlab.video import reader

    def reached(*args, **kwargs):
        raise AssertionError("the bad option should have been refused before reading data or training")

    monkeypatch.setattr(images, "load_image_folder", reached)
    monkeypatch.setattr(reader, "load_video_folder", reached)
    monkeypatch.setattr(train, "finetune", reached)
    monkeypatch.setattr(model, "load_lm", reached)
