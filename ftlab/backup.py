"""Phase-2 backups that an interruption can never poison (behind ``ftlab finetune --out``).

Keras' ``BackupAndRestore`` rewrites its weights file in place, trusts whatever it finds and
does not know which data it belongs to. :class:`SafeBackup` instead:

* writes each epoch's weights to a temporary file in the same folder, then records the file's
  sha256 and renames both into place (``os.replace``), so a kill at any moment leaves either the
  previous complete backup or the new one;
* keys the backup to the data and settings it belongs to (a digest of both): a backup from
  another run is set aside, with a message, not resumed;
* validates the file against its recorded sha256 before loading it, and sets a damaged one aside
  (renamed ``*.bad-<time>``) with a message naming it;
* holds a lock file with its process id, so a second run on the same folder while the first is
  alive stops with a clear message instead of silently resuming the first's state (a lock left
  by a killed run is taken over);
* says so when it resumes, and removes the backup when training ends normally.

Introduced with ``ftlab finetune`` (lesson 01).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from ftlab.download import sha256_file
from ftlab.errors import ModelError

WEIGHTS, RECORD, LOCK = "backup.weights.h5", "backup.json", "lock"
FORMAT_VERSION = 1


def backup_key(arrays=(), **settings) -> str:
    """A digest of the training data (array bytes) and the settings a backup belongs to.

    Example:
        >>> backup_key([np.zeros(3)], epochs=2) == backup_key([np.zeros(3)], epochs=2)
        True
        >>> backup_key([np.zeros(3)], epochs=2) == backup_key([np.ones(3)], epochs=2)
        False
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SafeBackup(keras.callbacks.Callback):
    """Back up the model after every epoch, atomically, and resume only a matching, intact backup.

    Args:
        folder: the backup folder (``ftlab finetune`` uses ``<out>.resume``).
        key: :func:`backup_key` of the data and settings of this run.
        verbose: print when resuming or setting a backup aside.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[SafeBackup("run.resume", backup_key([x, y], lr=1e-4))])  # doctest: +SKIP
    """

    def __init__(self, folder, key: str, verbose: bool = True):
        super().__init__()
        self.folder, self.key, self.verbose = Path(folder), str(key), verbose
        self.resumed_epoch = 0

    # -- hooks the tests use to kill the process at chosen moments ------------------------------
    def _before_replace(self) -> None:
        """Called after the new backup is written to its temporary file, before it replaces the old."""

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def _lock(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = self.folder / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _pid_alive(pid):
                    raise ModelError(f"another ftlab run (process {pid}) is using the backup folder {self.folder}: "
                                     "wait for it to finish, or give this run another --out") from None
                lock.unlink(missing_ok=True)  # left by a run that was killed: take it over
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return
        raise ModelError(f"cannot lock the backup folder {self.folder}: remove {lock} and run again")

    def _set_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for name in (WEIGHTS, RECORD):
            path = self.folder / name
            if path.exists():
                os.replace(path, path.with_name(f"{name}.{reason}-{stamp}"))
        self._say(f"backup in {self.folder} {'is damaged' if reason == 'bad' else 'belongs to other data or settings'}"
                  f": set aside as *.{reason}-{stamp}, starting phase 2 afresh")

    def _valid_record(self) -> dict | None:
        weights, record = self.folder / WEIGHTS, self.folder / RECORD
        if not weights.exists() and not record.exists():
            return None
        try:
            info = json.loads(record.read_text())
            complete = info.get("format") == FORMAT_VERSION and isinstance(info.get("epoch"), int)
        except (OSError, ValueError, AttributeError):
            info, complete = {}, False
        if complete and info.get("key") != self.key:
            self._set_aside("stale")
            return None
        if not complete or not weights.is_file() or sha256_file(weights) != info.get("sha256"):
            self._set_aside("bad")
            return None
        return info

    def on_train_begin(self, logs=None):
        self._lock()
        for leftover in self.folder.glob(".backup.*.tmp*"):  # half-written by a killed run; we hold the lock
            leftover.unlink(missing_ok=True)
        info = self._valid_record()
        if info is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(self.folder / WEIGHTS)
        except Exception as error:  # a file that hashes right but does not fit this model
            self._say(f"backup {self.folder / WEIGHTS} does not fit this model ({type(error).__name__})")
            self._set_aside("bad")
            return
        # The epoch to start from: the attribute Keras' own BackupAndRestore sets (keras 3.15).
        self.model._initial_epoch = self.resumed_epoch = int(info["epoch"])
        self._say(f"resuming phase 2 from the backup in {self.folder} after epoch {info['epoch']} "
                  "(same data and settings)")

    def on_epoch_end(self, epoch, logs=None):
        weights, record = self.folder / WEIGHTS, self.folder / RECORD
        tmp_weights = self.folder / f".{WEIGHTS}.{os.getpid()}.tmp.weights.h5"
        tmp_record = self.folder / f".{RECORD}.{os.getpid()}.tmp"
        try:
            self.model.save_weights(tmp_weights)
            tmp_record.write_text(json.dumps({"format": FORMAT_VERSION, "key": self.key, "epoch": epoch + 1,
                                              "sha256": sha256_file(tmp_weights)}))
            self._before_replace()
            # Weights first: between the two renames the record names the old file's sha256, so a
            # kill there leaves a backup that fails validation and is set aside, never a wrong one.
            os.replace(tmp_weights, weights)
            os.replace(tmp_record, record)
        finally:
            tmp_weights.unlink(missing_ok=True)
            tmp_record.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        for name in (WEIGHTS, RECORD, LOCK):
            (self.folder / name).unlink(missing_ok=True)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            shutil.rmtree(self.folder, ignore_errors=True)
