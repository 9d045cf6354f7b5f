"""Lesson 03: text generation — corpora, a tiny byte-level GPT, LoRA, sampling.

Light at import time: the submodules that need TensorFlow/KerasHub (``model``, ``train``,
``generate``, ``widgets``) load on first use, so ``ftlab --help`` and ``ftlab.text.corpora`` stay fast.

Example:
    >>> import ftlab
    >>> corpus = ftlab.text.corpora.general_corpus()  # doctest: +SKIP
    >>> lm = ftlab.text.model.load_tiny_lm()  # doctest: +SKIP
"""

from __future__ import annotations

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__, submodules=["corpora", "model", "train", "generate", "widgets", "smollm2"])
