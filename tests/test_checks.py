import pytest

import ftlab


def test_check_passes_with_tick(capsys):
    assert ftlab.check(1 < 2, "one is less than two", "1 < 2") is None  # a cell ending in a check shows no True
    assert capsys.readouterr().out == "✓ one is less than two (1 < 2)\n"


def test_check_fails_loudly():
    with pytest.raises(ftlab.CheckFailed, match="✗ fine-tuning wins"):
        ftlab.check(False, "fine-tuning wins")
    assert issubclass(ftlab.CheckFailed, AssertionError)


def test_check_greater_margin():
    ftlab.check_greater(0.9, 0.5, "big win", margin=0.3)
    with pytest.raises(ftlab.CheckFailed, match="0.9 > 0.7"):
        ftlab.check_greater(0.9, 0.7, "big win", margin=0.3)


def test_check_between_rejects_nan():
    ftlab.check_between(0.5, 0, 1, "a probability")
    with pytest.raises(ftlab.CheckFailed):
        ftlab.check_between(float("nan"), 0, 1, "a probability")
    with pytest.raises(ftlab.CheckFailed):
        ftlab.check_between(1.5, 0, 1, "a probability")


def test_exercise_hint_not_answer(capsys):
    with pytest.raises(ftlab.CheckFailed, match="hint: look at stage 7"):
        ftlab.exercise("1.1", False, hint="look at stage 7")
    assert ftlab.exercise("1.1", True) is None  # no stray True under an exercise cell
    assert "solved" in capsys.readouterr().out


def test_import_ftlab_is_light():
    import subprocess
    import sys

    code = "import sys, ftlab; ftlab.check(True, 'x'); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")


def test_exercise_waits_for_an_answer(capsys):
    called = []
    ftlab.exercise("1.2 double it", lambda: called.append(1), answer=None, hint="2 + 2")
    assert not called, "the check must not run before there is an answer"
    assert "○ exercise 1.2 double it: not answered yet" in capsys.readouterr().out


def test_exercise_calls_a_check_function_once_answered(capsys):
    answer = 4
    ftlab.exercise("1.2 double it", lambda: answer == 2 + 2, answer=answer)
    assert "✓ exercise 1.2 double it: solved" in capsys.readouterr().out
    with pytest.raises(ftlab.CheckFailed, match="not solved yet \\(hint: 2 \\+ 2\\)"):
        ftlab.exercise("1.2 double it", lambda: answer == 5, answer=answer, hint="2 + 2")


def test_exercise_reports_a_check_that_raises_as_a_failure():
    answer = "four"
    with pytest.raises(ftlab.CheckFailed, match="checking your answer raised AttributeError"):
        ftlab.exercise("1.2 shape", lambda: answer.shape == (2,), answer=answer)


def test_required_answers_make_a_missing_answer_fail():
    ftlab.checks.require_answers()
    with pytest.raises(ftlab.CheckFailed, match="no answer"):
        ftlab.exercise("1.2 double it", lambda: True, answer=None)
    ftlab.checks.require_answers(False)
    ftlab.exercise("1.2 double it", lambda: True, answer=None)  # waits again: no exception
