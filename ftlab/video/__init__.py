"""Lesson 04: video action recognition with an image network.

Submodules (import them explicitly; only ``clip_layers``, ``inflation``, ``models`` and ``train``
load TensorFlow):

* :mod:`ftlab.video.reader` — decode clips (PyAV / Pillow), sample frames, cache class folders;
* :mod:`ftlab.video.synthetic` — offline action clips written as real ``.mp4``/``.avi``/``.gif``;
* :mod:`ftlab.video.ucf101` — a small public UCF101 subset (online, checksummed);
* :mod:`ftlab.video.models` — temporal heads on per-frame features, 2-D → 3-D inflation (re-exports
  the two below);
* :mod:`ftlab.video.clip_layers` — the small Keras layers (time folding, depthwise 3-D, pooling);
* :mod:`ftlab.video.inflation` — splitting a backbone, inflating it to 3-D;
* :mod:`ftlab.video.train` — the single-frame, features and inflated pipelines, measured;
* ``ftlab finetune-video`` lives with the other commands, in :mod:`ftlab.cli.video`.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__, submodules=["reader", "synthetic", "ucf101", "models", "clip_layers", "inflation", "train"])
