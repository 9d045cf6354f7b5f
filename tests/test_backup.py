"""SafeBackup: phase-2 backups survive kills mid-write, damage, other runs' data and concurrent runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ftlab.backup import LOCK, RECORD, WEIGHTS, SafeBackup, backup_key
from ftlab.errors import ModelError

TRAIN = textwrap.dedent("""
    import os, signal, sys
    import keras, numpy as np
    from ftlab.backup import SafeBackup, backup_key

    folder, kill_at = sys.argv[1], int(sys.argv[2])
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    class Killed(SafeBackup):
        def _before_replace(self):
            if self.model.history.epoch and len(self.model.history.epoch) + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # a kill while the backup is being written

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            print("epoch", epoch + 1, flush=True)

    model.fit(x, y, epochs=4, batch_size=8, verbose=0,
              callbacks=[Killed(folder, backup_key([x, y], epochs=4)), Epochs()])
    print("done", flush=True)
""")


def run_training(tmp_path, kill_at=0):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(script), str(tmp_path / "run.resume"), str(kill_at)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_a_kill_while_the_backup_is_written_never_poisons_the_next_run(tmp_path):
    killed = run_training(tmp_path, kill_at=3)  # killed while writing the backup of epoch 3
    assert killed.returncode == -signal.SIGKILL and "done" not in killed.stdout
    folder = tmp_path / "run.resume"
    assert json.loads((folder / RECORD).read_text())["epoch"] == 2  # epoch 2's backup is intact
    resumed = run_training(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming phase 2 from the backup" in resumed.stdout and "after epoch 2" in resumed.stdout
    trained = [line for line in resumed.stdout.splitlines() if line.startswith("epoch ")]
    assert trained == ["epoch 3", "epoch 4"] and "done" in resumed.stdout
    assert not folder.exists(), "a finished run removes its backup, lock and temporary files"


def _fit(model, x, y, backup, epochs=2):
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[backup])


@pytest.fixture
def tiny():
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model, x, y


class Interrupt(SafeBackup):
    """Leaves a backup behind, as a Ctrl-C after the first epoch would."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        raise KeyboardInterrupt


def _leave_backup(tmp_path, tiny, key):
    model, x, y = tiny
    with pytest.raises(KeyboardInterrupt):
        _fit(model, x, y, Interrupt(tmp_path / "b", key))
    assert (tmp_path / "b" / WEIGHTS).is_file()


def test_a_truncated_backup_is_set_aside_with_a_message(tmp_path, tiny, capsys):
    key = backup_key([tiny[1]], epochs=2)
    _leave_backup(tmp_path, tiny, key)
    weights = tmp_path / "b" / WEIGHTS
    with open(weights, "r+b") as handle:
        handle.truncate(100)
    backup = SafeBackup(tmp_path / "b", key)
    _fit(*tiny, backup)
    out = capsys.readouterr().out
    assert f"backup in {tmp_path / 'b'} is damaged: set aside" in out and backup.resumed_epoch == 0
    assert list((tmp_path / "b").glob(f"{WEIGHTS}.bad-*")), "the damaged file is kept aside, not deleted"


def test_a_backup_of_other_data_or_settings_is_not_resumed(tmp_path, tiny, capsys):
    _leave_backup(tmp_path, tiny, backup_key([tiny[1]], epochs=2, classes=["a", "b", "c"]))
    backup = SafeBackup(tmp_path / "b", backup_key([tiny[1]], epochs=2, classes=["a", "b"]))
    _fit(*tiny, backup)
    assert "belongs to other data or settings: set aside" in capsys.readouterr().out
    assert backup.resumed_epoch == 0


def test_a_matching_backup_is_resumed_and_says_so(tmp_path, tiny, capsys):
    key = backup_key([tiny[1]], epochs=2)
    _leave_backup(tmp_path, tiny, key)
    backup = SafeBackup(tmp_path / "b", key)
    _fit(*tiny, backup)
    assert backup.resumed_epoch == 1 and "resuming phase 2" in capsys.readouterr().out


def test_a_second_run_on_a_folder_in_use_stops_and_a_dead_runs_lock_is_taken_over(tmp_path, tiny):
    folder = tmp_path / "b"
    folder.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / LOCK).write_text(str(other.pid))
        with pytest.raises(ModelError, match=f"process {other.pid}.* is using the backup folder"):
            _fit(*tiny, SafeBackup(folder, "k"))
    finally:
        other.kill()
        other.wait()
    _fit(*tiny, SafeBackup(folder, "k"))  # the process is gone: its lock no longer counts
    assert not folder.exists()
