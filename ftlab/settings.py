"""Run-time settings: offline or online, quick or full, seeds, device, cache folder.

Introduced in lesson 00 (``ftlab.setup()`` opens every lesson).

Environment variables:
    FTLAB_OFFLINE: ``1`` forces offline mode, ``0`` forces online; unset means a network
        probe that answers within 2 s (never a library's minutes of retries).
    FTLAB_QUICK: ``1`` shrinks data and steps so a lesson runs in about a minute (CI uses it).
    FTLAB_CACHE: where downloads and feature caches live (default ``~/.cache/ftlab``).
    FTLAB_SEED: global seed (default 42).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_PROBE_HOSTS = (("storage.googleapis.com", 443), ("github.com", 443))
_PROBE_TIMEOUT = 2.0  # seconds, DNS look-up included
_offline_probe_result: bool | None = None


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def _any_host_reachable(deadline: float, per_host: float) -> bool:
    """Whether one of the download hosts accepts a TCP connection before ``deadline`` (monotonic)."""
    for host, port in _PROBE_HOSTS:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with socket.create_connection((host, port), timeout=min(left, per_host)):
                return True
        except OSError:
            continue
    return False


def _probe_offline(timeout: float = _PROBE_TIMEOUT) -> bool:
    """True when none of the download hosts answers a TCP connect within ``timeout`` seconds.

    ``socket.create_connection(timeout=…)`` bounds the connect but not the DNS look-up
    (``getaddrinfo`` can block for far longer on a broken resolver), so the probe runs in a daemon
    thread that is waited for at most ``timeout`` seconds; no answer by then counts as offline.
    The answer is remembered for the rest of the process.
    """
    global _offline_probe_result
    if _offline_probe_result is None:
        answer: list[bool] = []
        deadline, per_host = time.monotonic() + timeout, timeout / len(_PROBE_HOSTS)
        thread = threading.Thread(
            target=lambda: answer.append(_any_host_reachable(deadline, per_host)),
            name="ftlab-offline-probe",
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        _offline_probe_result = not (answer and answer[0])
    return _offline_probe_result


def is_offline() -> bool:
    """Whether to use the bundled, offline data and weights.

    ``FTLAB_OFFLINE`` decides when set (and nothing touches the network); otherwise a TCP probe
    (≤ 2 s including the DNS look-up, remembered) does.
    """
    flag = _env_flag("FTLAB_OFFLINE")
    return _probe_offline() if flag is None else flag


def is_quick() -> bool:
    """Whether quick mode (small data, few steps; what CI runs) is on (``FTLAB_QUICK=1``)."""
    return bool(_env_flag("FTLAB_QUICK"))


def quick_or(quick_value, full_value):
    """Pick the quick-mode value or the full one.

    Example:
        >>> quick_or(2, 10) in (2, 10)
        True
    """
    return quick_value if is_quick() else full_value


def cache_dir(*parts: str) -> Path:
    """The ftlab cache folder (``FTLAB_CACHE`` or ``~/.cache/ftlab``), created if missing."""
    root = Path(os.environ.get("FTLAB_CACHE") or Path.home() / ".cache" / "ftlab")
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError as error:
        from ftlab.errors import DataError

        raise DataError(
            f"FTLAB_CACHE {root} is not writable (cannot create {path}): make it writable "
            f"(chmod -R u+w {root}) or set FTLAB_CACHE to a folder you can write"
        ) from error
    return path


def default_seed() -> int:
    return int(os.environ.get("FTLAB_SEED", "42"))


def seed_everything(seed: int | None = None) -> int:
    """Seed Python, NumPy and (if loaded or installed) Keras/TensorFlow. Returns the seed."""
    seed = default_seed() if seed is None else int(seed)
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    import numpy as np

    np.random.seed(seed)
    try:
        import_tensorflow()  # quietly, before `import keras` would print TensorFlow's start-up lines
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:
        pass
    return seed


@contextlib.contextmanager
def silenced_native_stderr():
    """Hide what C++ libraries write straight to file descriptor 2 (TensorFlow's start-up lines).

    ``TF_CPP_MIN_LOG_LEVEL`` does not silence the lines TensorFlow prints before its logging is
    initialised (DESIGN notes §4b). Python's own ``sys.stderr`` messages and exceptions still
    show, because the redirection covers only the descriptor, only inside the ``with`` block.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_tensorflow_probed = False


def import_tensorflow():
    """Import TensorFlow (and Keras) without its native start-up noise; returns the module."""
    global _tensorflow_probed
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _tensorflow_probed:
        return sys.modules["tensorflow"]
    with silenced_native_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        # The CUDA probe logs too ("failed call to cuInit" on a CPU machine), even when something
        # else imported TensorFlow first: do it once, now, quietly.
        tf.config.list_physical_devices("GPU")
    tf.get_logger().addFilter(_drop_retracing_warnings)
    _tensorflow_probed = True
    return tf


def _drop_retracing_warnings(record) -> bool:
    """Keep TensorFlow's "N out of the last M calls ... triggered tf.function retracing" out of lessons.

    Lessons call ``predict`` on several models and batch sizes in a row, which is what the warning
    counts; it tells a learner nothing they can act on. Every other TensorFlow message still shows.
    """
    return "triggered tf.function retracing" not in record.getMessage()


@dataclass
class DeviceReport:
    """What the lesson runs on."""

    gpus: list
    mixed_precision: bool
    distribution: str
    cpu_count: int

    @property
    def kind(self) -> str:
        return f"GPU ×{len(self.gpus)}" if self.gpus else "CPU"

    def __str__(self) -> str:
        mp = "mixed_float16" if self.mixed_precision else "float32"
        return f"device: {self.kind} ({self.cpu_count} CPU cores), precision: {mp}, {self.distribution}"


def device_report(enable_mixed_precision: bool = True) -> DeviceReport:
    """Look at the accelerators; on a GPU switch Keras to mixed precision (float16 compute).

    With more than one GPU it names ``tf.distribute.MirroredStrategy`` as the way to use them
    (see :func:`distribution_strategy`); ftlab never runs a home-made data-parallel loop.
    """
    tf = import_tensorflow()
    import keras

    gpus = tf.config.list_physical_devices("GPU")
    mixed = False
    if gpus and enable_mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
        mixed = True
    distribution = "MirroredStrategy available" if len(gpus) > 1 else "single device"
    return DeviceReport(
        gpus=[g.name for g in gpus],
        mixed_precision=mixed,
        distribution=distribution,
        cpu_count=os.cpu_count() or 1,
    )


def distribution_strategy():
    """``tf.distribute.MirroredStrategy`` when several GPUs are visible, else the default one.

    Build and compile models inside ``with distribution_strategy().scope():``.
    """
    tf = import_tensorflow()

    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def setup(seed: int | None = None, verbose: bool = True) -> dict:
    """Open a lesson: seed everything, report offline/quick mode and the device, and turn on
    :func:`ftlab.freeze.watch_compiles` (a warning when ``fit`` follows a change of ``trainable``
    without ``compile``).

    Args:
        seed: global seed (default ``FTLAB_SEED`` or 42).
        verbose: print one line per setting.

    Returns:
        dict with ``offline``, ``quick``, ``seed`` and ``device``.

    Example:
        >>> info = ftlab.setup()  # doctest: +SKIP
        ftlab 0.1.0 · mode: OFFLINE (bundled weights and data) · QUICK ...
    """
    import ftlab

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    offline, quick = is_offline(), is_quick()
    seed = seed_everything(seed)
    report = device_report()
    from ftlab.freeze import watch_compiles

    watch_compiles()  # warn when fit runs on a model whose trainable set changed since compile
    if verbose:
        mode = "OFFLINE (bundled weights and data)" if offline else "ONLINE (real datasets and models)"
        size = "QUICK (small data, few steps)" if quick else "FULL"
        print(f"ftlab {ftlab.__version__} · mode: {mode} · {size} · seed {seed}")
        print(report)
    return {"offline": offline, "quick": quick, "seed": seed, "device": report}
