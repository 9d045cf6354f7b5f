"""What every ``ftlab`` sub-command shares: the ``--json`` flag, the one-line error contract's
helpers, result printing, the progress line, and checks of paths the learner passes.

Imports nothing from the topic modules (``ftlab.cli.image``, ``.text``, ``.video``), which all
import from here: the package has no import cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from ftlab.errors import DataError, ModelError


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Every sub-command gets ``--json`` (one JSON object as the last line of stdout)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object as the last line of stdout, no progress bar",
    )


def require_at_least(option: str, value, minimum, fix: str) -> None:
    """Refuse a numeric option below ``minimum`` with a one-line error that names it and the fix.

    Example:
        >>> require_at_least("--batch-size", 0, 1, "pass e.g. --batch-size 32")
        Traceback (most recent call last):
        ftlab.errors.DataError: --batch-size 0: must be at least 1; pass e.g. --batch-size 32
    """
    if value < minimum:
        raise DataError(f"{option} {value}: must be at least {minimum}; {fix}")


def emit(result: dict, as_json: bool) -> None:
    """Print a command's result: one JSON line, or a readable ``key: value`` list."""
    if as_json:
        print(json.dumps(result, default=_jsonable))
        return
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=_jsonable)
        print(f"{key}: {value}")


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    return str(value)


class ProgressBar:
    """A one-line status display on stderr (a terminal only); :meth:`as_callback` adds tqdm's epoch bar."""

    line_open = False

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr is not None and sys.stderr.isatty()

    def message(self, text: str) -> None:
        if self.enabled:
            print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)
            ProgressBar.line_open = True

    def done(self) -> None:
        if self.enabled:
            self.end_open_line()

    @classmethod
    def end_open_line(cls) -> None:
        """Finish a half-written progress line so the next message starts on its own line."""
        if cls.line_open:
            print(file=sys.stderr, flush=True)
            cls.line_open = False

    def as_callback(self):
        """A Keras callback drawing tqdm's bar over the epochs of each ``fit``, with loss and val figures."""
        import keras
        from tqdm import tqdm

        bar = self

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                bar.end_open_line()  # the "reading ..." status line ends; the bar gets its own
                self.epochs = tqdm(total=self.params.get("epochs", 0), desc="fine-tune", unit="epoch",
                                   file=sys.stderr, mininterval=0)  # an epoch is slow: draw each

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.epochs.set_postfix({k: f"{v:.3f}" for k, v in logs.items()
                                         if k in ("loss", "val_loss", "val_accuracy")}, refresh=False)
                self.epochs.update()

            def on_train_end(self, logs=None):
                self.epochs.close()

        return _Callback()


def skipped_rows(items) -> list[dict]:
    return [{"file": str(path), "reason": str(reason)} for path, reason in items]


def check_out(out: str | None) -> None:
    """Refuse an ``--out`` that could not be written, before hours of training rather than after."""
    if out is None:
        return
    path = Path(out)
    if path.is_dir():
        raise ModelError(
            f"--out {out} is a folder: pass a file name in it, e.g. --out {path / 'model.keras'}"
        )
    if path.suffix != ".keras":
        example = path.with_suffix(".keras") if path.name else "model.keras"
        raise ModelError(f"--out {out}: the model file name must end in .keras, e.g. --out {example}")
    parent = path.parent
    if not parent.exists():
        raise ModelError(
            f"--out {out}: the folder {parent} does not exist; create it first "
            f"(mkdir -p {parent}) or pass a path in an existing folder"
        )
    if not parent.is_dir():
        raise ModelError(f"--out {out}: {parent} is a file, not a folder; pass a path in an existing folder")
    writable = os.access(parent, os.W_OK | os.X_OK)
    if writable:
        try:
            with tempfile.NamedTemporaryFile(dir=parent, prefix=".ftlab-write-check-"):
                pass
        except OSError:
            writable = False
    if not writable:
        raise ModelError(
            f"--out {out}: the folder {parent} is not writable; pass a path in a folder you can "
            "write to, or fix its permissions"
        )


@contextlib.contextmanager

def readable(**folders):
    """Turn a PermissionError while reading the data into a DataError that names the folder.

    ``folders`` maps option names (``data="photos"``) to what the learner passed.
    """
    try:
        yield
    except PermissionError as error:
        from ftlab import settings

        cache_root = settings.cache_dir().resolve() if error.filename else None
        if cache_root is not None and (Path(error.filename).resolve() == cache_root
                                       or cache_root in Path(error.filename).resolve().parents):
            raise DataError(
                f"FTLAB_CACHE {cache_root} is not writable ({error.filename}): make it writable "
                f"(chmod -R u+w {cache_root}) or set FTLAB_CACHE to a folder you can write"
            ) from None
        where = error.filename or next((v for v in folders.values() if v), "the data")
        option = next(
            (
                f"--{k.replace('_', '-')}"
                for k, v in folders.items()
                if v is not None and Path(v) == Path(where)
            ),
            None,
        )
        named = f"{option} {where}" if option else str(where)
        raise DataError(
            f"{named}: permission denied, cannot read it; make it readable "
            f"(e.g. chmod -R u+rX {where}) or pass a folder you can read"
        ) from None
