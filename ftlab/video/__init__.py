"""Lesson 04: video action recognition with an image network.

Submodules (import them explicitly; only ``models`` and ``train`` load TensorFlow):

* :mod:`ftlab.video.reader` — decode clips (PyAV / Pillow), sample frames, cache class folders;
* :mod:`ftlab.video.synthetic` — offline action clips written as real ``.mp4``/``.avi``/``.gif``;
* :mod:`ftlab.video.ucf101` — a small public UCF101 subset (online, checksummed);
* :mod:`ftlab.video.models` — temporal heads on per-frame features, 2-D → 3-D inflation;
* :mod:`ftlab.video.train` — the single-frame, features and inflated pipelines, measured;
* :mod:`ftlab.video.cli` — ``ftlab finetune-video``.
"""

import importlib

_SUBMODULES = {"reader", "synthetic", "ucf101", "models", "train", "cli"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"ftlab.video.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ftlab.video' has no attribute {name!r}")
