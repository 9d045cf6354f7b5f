"""Learning rates for fine-tuning: a learning-rate finder, discriminative rates, gradual unfreezing.

Introduced in lesson 01.

* :func:`find_learning_rate` — the "LR range test" (Smith 2017; popularised by fastai's
  ``lr_find``): train for a few dozen mini-batches while the learning rate grows exponentially,
  record the loss, and read off where it falls fastest. The model's weights and optimizer
  state are restored afterwards.
* :func:`discriminative_optimizer` — one optimizer, a different learning rate per block group:
  the new head and the top of the backbone learn at the full rate, each group below at a
  fraction of the one above (Howard & Ruder 2018, ULMFiT). Early layers hold generic features
  (edges, textures) that need little change; small steps there keep what ImageNet taught.
* :class:`GradualUnfreezing` — a Keras callback that unfreezes one more group from the top
  every few epochs (ULMFiT's other trick), so the head settles before deep layers move.
"""

from __future__ import annotations

import lazy_loader

from ftlab.lr.discriminative import discriminative_learning_rates, discriminative_optimizer
from ftlab.lr.finder import LRFinderResult, find_learning_rate, smooth_losses, suggest_learning_rate

# GradualUnfreezing subclasses keras.callbacks.Callback: imported on first use, like every lazy name in ftlab.
__getattr__, _lazy_dir, _lazy_all = lazy_loader.attach(
    __name__, submodules=["discriminative", "finder", "unfreezing"],
    submod_attrs={"unfreezing": ["GradualUnfreezing", "unfreezing_schedule"]})

__all__ = ["LRFinderResult", "discriminative_learning_rates", "discriminative_optimizer", "find_learning_rate",
           "smooth_losses", "suggest_learning_rate", *_lazy_all]


def __dir__():
    return sorted(__all__)
