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

import lazy_loader

from ftlab.checks import CheckFailed, check, check_between, check_greater, exercise
from ftlab.settings import setup

__version__ = "0.1.0"

# Every public module of the package, imported on first use (PEP 562 via lazy_loader, the one lazy-import
# mechanism ftlab uses): ``import ftlab; ftlab.lr.GradualUnfreezing`` works without importing ftlab.lr first.
SUBMODULES = (
    "backup",
    "blocks",
    "cachefile",
    "calibration",
    "checks",
    "cli",
    "data",
    "download",
    "errors",
    "explain",
    "features",
    "forgetting",
    "freeze",
    "lr",
    "memory",
    "metrics",
    "modelfile",
    "models",
    "plots",
    "settings",
    "skin",
    "softmax_head",
    "splits",
    "text",
    "train",
    "train_data",
    "video",
    "widgets",
)

__getattr__, _lazy_dir, _lazy_all = lazy_loader.attach(__name__, submodules=SUBMODULES)

__all__ = ["CheckFailed", "check", "check_between", "check_greater", "exercise", "setup", "__version__",
           *_lazy_all]


def __dir__():
    return sorted(__all__)
