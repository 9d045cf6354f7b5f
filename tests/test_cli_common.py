"""ftlab.cli.common: the status line and tqdm's epoch bar (no subprocess, so it stays in `make unit`)."""

import io
import sys

from ftlab.cli.common import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_silent_off_a_terminal(capsys):
    bar = ProgressBar(True)
    assert not bar.enabled  # pytest's captured stderr is not a terminal
    bar.message("reading photos ...")
    assert capsys.readouterr().err == ""


def test_epoch_bar_shows_epochs_and_validation_figures(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = ProgressBar(True)
    bar.message("reading photos ...")
    callback = bar.as_callback()
    callback.set_params({"epochs": 3})
    callback.on_train_begin()
    for epoch in range(3):
        callback.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_accuracy": 0.5, "accuracy": 0.9})
    callback.on_train_end()
    text = terminal.getvalue()
    assert text.startswith("\r\033[Kreading photos ...\n")  # the status line ended before the bar
    assert "fine-tune" in text and "3/3" in text and "val_accuracy=0.500" in text
    assert "accuracy=0.900" not in text.replace("val_accuracy", "")  # training accuracy is left out
    assert not ProgressBar.line_open
