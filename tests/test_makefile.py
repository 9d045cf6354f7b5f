"""The Makefile's `make lab`: JupyterLab on the repository root, opening the course index."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lab_arguments() -> list[str]:
    """What `make lab` passes to `jupyter lab` (read with `make -n`, so nothing is run)."""
    printed = subprocess.run(["make", "-s", "-n", "-o", ".venv/.ftlab-installed", "lab"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    words = shlex.split(printed.replace("\\\n", " "))
    start = words.index("lab", next(i for i, w in enumerate(words) if w.endswith("/jupyter")))
    return words[start + 1:]


def test_make_lab_serves_the_repository_and_opens_the_index(tmp_path):
    from conftest import jupyter_landing_page

    arguments = lab_arguments()
    assert f"--ServerApp.root_dir={REPO}" in arguments
    if os.geteuid() == 0:
        assert "--allow-root" in arguments, "JupyterLab refuses to start as root without it"
    location, statuses = jupyter_landing_page(
        arguments, dict(os.environ), tmp_path,
        probe_paths=["/api/contents/solutions/00_pretrained_models.ipynb", "/api/contents/docs/GPU.md"],
    )
    assert location.split("?")[0] == "/lab/tree/notebooks/index.ipynb"
    # the lessons link to ../solutions and ../docs: both must be inside what the server serves
    assert statuses == {"/api/contents/solutions/00_pretrained_models.ipynb": 200, "/api/contents/docs/GPU.md": 200}
