"""ftlab: the companion package of the ftlab course on transfer learning and fine-tuning.

``import ftlab`` is fast: TensorFlow and Keras load only when a submodule that needs them is
first used (``ftlab.freeze``, ``ftlab.train``, ...), so the CLI's ``--help`` and plain helpers
answer at once.

Example:
    >>> import ftlab
    >>> ftlab.setup()  # doctest: +SKIP
    >>> ftlab.check(2 + 2 == 4, "arithmetic still works")
    ✓ arithmetic still works
"""

from __future__ import annotations

import importlib

from ftlab.checks import CheckFailed, check, check_between, check_greater, exercise
from ftlab.settings import setup

__version__ = "0.1.0"

_SUBMODULES = {
    "settings",
    "checks",
    "download",
    "data",
    "models",
    "freeze",
    "features",
    "train",
    "metrics",
    "calibration",
    "explain",
    "widgets",
    "plots",
    "text",
    "video",
    "skin",
    "cli",
}

__all__ = [
    "CheckFailed",
    "check",
    "check_between",
    "check_greater",
    "exercise",
    "setup",
    "__version__",
    *sorted(_SUBMODULES),
]


def __getattr__(name: str):
    """Import submodules on first use (PEP 562) so ``import ftlab`` stays light."""
    if name in _SUBMODULES:
        module = importlib.import_module(f"ftlab.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ftlab' has no attribute {name!r}")
