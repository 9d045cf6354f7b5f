import pytest

import ftlab


def test_check_passes_with_tick(capsys):
    assert ftlab.check(1 < 2, "one is less than two", "1 < 2")
    assert capsys.readouterr().out == "✓ one is less than two (1 < 2)\n"


def test_check_fails_loudly():
    with pytest.raises(ftlab.CheckFailed, match="✗ fine-tuning wins"):
        ftlab.check(False, "fine-tuning wins")
    assert issubclass(ftlab.CheckFailed, AssertionError)


def test_check_greater_margin():
    assert ftlab.check_greater(0.9, 0.5, "big win", margin=0.3)
    with pytest.raises(ftlab.CheckFailed, match="0.9 > 0.7"):
        ftlab.check_greater(0.9, 0.7, "big win", margin=0.3)


def test_check_between_rejects_nan():
    assert ftlab.check_between(0.5, 0, 1, "a probability")
    with pytest.raises(ftlab.CheckFailed):
        ftlab.check_between(float("nan"), 0, 1, "a probability")
    with pytest.raises(ftlab.CheckFailed):
        ftlab.check_between(1.5, 0, 1, "a probability")


def test_exercise_hint_not_answer(capsys):
    with pytest.raises(ftlab.CheckFailed, match="hint: look at stage 7"):
        ftlab.exercise("1.1", False, hint="look at stage 7")
    assert ftlab.exercise("1.1", True)
    assert "solved" in capsys.readouterr().out


def test_import_ftlab_is_light():
    import subprocess
    import sys

    code = "import sys, ftlab; ftlab.check(True, 'x'); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")
