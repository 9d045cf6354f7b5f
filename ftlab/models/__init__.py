"""Models: the bundled EfficientNet-Lite0 (``lite0``), the backbone registry (``backbones``),
ImageNet prediction (``imagenet``) and classifier heads (``heads``).

Submodules load on first use (PEP 562), so ``import ftlab.models`` does not import Keras.

Example:
    >>> import ftlab
    >>> ftlab.models.backbones.list_backbones()[0]  # doctest: +SKIP
    'efficientnet_lite0'
"""

from __future__ import annotations

import importlib
import importlib.util


def __getattr__(name: str):
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
