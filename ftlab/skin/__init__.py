"""Lesson 02 data: skin-lesion images (DermaMNIST, HAM10000-style folders, SYNTHETIC dermoscopy).

Submodules (imported on first use, none needs TensorFlow):

* :mod:`ftlab.skin.classes` – the seven HAM10000 dx codes, names and counts.
* :mod:`ftlab.skin.synthetic` – the offline, clearly SYNTHETIC dermoscopy generator.
* :mod:`ftlab.skin.drawing` – drawing one synthetic image (re-exported by ``synthetic``).
* :mod:`ftlab.skin.dermamnist` – DermaMNIST (MedMNIST) download, MD5-verified.
* :mod:`ftlab.skin.ham10000` – a folder of images plus a HAM10000-style metadata CSV.
"""

from __future__ import annotations

import lazy_loader

from ftlab.skin.classes import CLASS_NAMES, DIAGNOSES, DX_CODES, HAM10000_COUNTS, MELANOMA

__getattr__, _lazy_dir, _lazy_all = lazy_loader.attach(
    __name__, submodules=["classes", "synthetic", "drawing", "dermamnist", "ham10000"])

__all__ = ["CLASS_NAMES", "DIAGNOSES", "DX_CODES", "HAM10000_COUNTS", "MELANOMA", *_lazy_all]


def __dir__():
    return sorted(__all__)
