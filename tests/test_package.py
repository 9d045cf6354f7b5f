"""The package's front: one lazy-import mechanism, every public module reachable as ``ftlab.<name>``."""

import pathlib
import subprocess
import sys

import pytest

import ftlab

ROOT = pathlib.Path(ftlab.__file__).parent


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_every_top_level_module_is_listed():
    on_disk = {p.stem for p in ROOT.glob("*.py") if not p.stem.startswith("_")}
    on_disk |= {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk == set(ftlab.SUBMODULES), "ftlab/__init__.py's SUBMODULES must list every public module"


def test_lazy_attribute_access_without_import():
    # lesson 01's prose names ftlab.lr.GradualUnfreezing; it must work after a bare `import ftlab`
    out = _fresh("import sys, ftlab\n"
                 "light = 'tensorflow' not in sys.modules\n"
                 "print(light, ftlab.lr.GradualUnfreezing.__name__, ftlab.data.load_image_folder.__module__)")
    assert out.splitlines()[-1] == "True GradualUnfreezing ftlab.data.images"


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_module"):
        ftlab.no_such_module  # noqa: B018


def test_one_lazy_import_mechanism():
    # Every lazy name goes through lazy_loader.attach; a hand-written module __getattr__ is a second mechanism.
    hand_written = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if "\ndef __getattr__(" in p.read_text()]
    assert hand_written == [], f"use lazy_loader.attach instead of a module __getattr__ in {hand_written}"


def test_cli_package_has_no_import_cycle():
    # ftlab.cli.common is what the topic modules share; it must not import any of them (or ftlab.cli's
    # entry point), and each topic module must import on its own in a fresh interpreter.
    import ast

    common = ast.parse((ROOT / "cli" / "common.py").read_text())
    imported = {node.module for node in ast.walk(common) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name == "ftlab.cli" or name.startswith("ftlab.cli.") for name in imported), imported
    out = _fresh("import importlib, sys\n"
                 "for name in ('ftlab.cli.image', 'ftlab.cli.text', 'ftlab.cli.video'):\n"
                 "    importlib.import_module(name)\n"
                 "print('tensorflow' in sys.modules)")
    assert out.splitlines()[-1] == "False", "the CLI's modules must not import TensorFlow at import time"
