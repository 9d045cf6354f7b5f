import time

import pytest

from ftlab import settings


def test_offline_flag_forces_mode_without_probing(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    assert settings.is_offline() is True
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    assert settings.is_offline() is False


def test_probe_answers_within_two_seconds(monkeypatch):
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(settings, "_offline_probe_result", None)
    start = time.perf_counter()
    result = settings.is_offline()
    assert isinstance(result, bool)
    assert time.perf_counter() - start < 2.5


def test_probe_result_is_remembered(monkeypatch):
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(settings, "_offline_probe_result", True)
    monkeypatch.setattr(settings.socket, "create_connection", lambda *a, **k: pytest.fail("probed again"))
    assert settings.is_offline() is True


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_mode(monkeypatch, value, expected):
    monkeypatch.setenv("FTLAB_QUICK", value)
    assert settings.is_quick() is expected
    assert settings.quick_or("q", "full") == ("q" if expected else "full")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "c"))
    path = settings.cache_dir("features")
    assert path == tmp_path / "c" / "features" and path.is_dir()


def test_seed_everything_makes_numpy_repeatable():
    import numpy as np

    settings.seed_everything(7)
    a = np.random.rand(3)
    settings.seed_everything(7)
    assert (a == np.random.rand(3)).all()


def test_setup_reports_mode_and_cpu(monkeypatch, capsys):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    monkeypatch.setenv("FTLAB_QUICK", "1")
    info = settings.setup(seed=3)
    out = capsys.readouterr().out
    assert "OFFLINE" in out and "QUICK" in out and "seed 3" in out
    assert info["device"].kind == "CPU" and info["device"].mixed_precision is False
    assert "device: CPU" in out
