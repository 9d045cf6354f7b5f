"""Models: the bundled EfficientNet-Lite0 (``lite0``), the backbone registry (``backbones``),
ImageNet prediction (``imagenet``) and classifier heads (``heads``).

Submodules load on first use (PEP 562), so ``import ftlab.models`` does not import Keras.

Example:
    >>> import ftlab
    >>> ftlab.models.backbones.list_backbones()[0]  # doctest: +SKIP
    'efficientnet_lite0'
"""

from __future__ import annotations

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submodules=["backbones", "heads", "imagenet", "lite0"])
