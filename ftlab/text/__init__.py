"""Lesson 03: text generation — corpora, a tiny byte-level GPT, LoRA, sampling.

Light at import time: the submodules that need TensorFlow/KerasHub (``model``, ``train``,
``generate``, ``widgets``) load on first use, so ``ftlab --help`` and ``ftlab.text.corpora`` stay fast.

Example:
    >>> import ftlab
    >>> corpus = ftlab.text.corpora.general_corpus()  # doctest: +SKIP
    >>> lm = ftlab.text.model.load_tiny_lm()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

_SUBMODULES = {"corpora", "model", "train", "generate", "widgets", "cli"}

__all__ = sorted(_SUBMODULES)


def __getattr__(name: str):
    """Import submodules on first use (PEP 562)."""
    if name in _SUBMODULES:
        module = importlib.import_module(f"ftlab.text.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ftlab.text' has no attribute {name!r}")
