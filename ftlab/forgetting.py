"""Catastrophic forgetting, measured: does the tuned backbone still know ImageNet?

Introduced in lesson 01. A fine-tuned backbone is still attached, in spirit, to the 1000-class
ImageNet classifier it was trained with. Put that original ``predictions`` layer back on top of
the tuned backbone and ask it about a set of reference photos: where it now answers differently
from the untouched model, the new task has overwritten old knowledge.

Four numbers per comparison (:class:`ForgettingReport`):

* ``top1_agreement`` — share of photos whose top-1 ImageNet class is unchanged (1.0 = nothing
  forgotten). The headline figure; coarse on a handful of photos.
* ``top5_overlap`` — average share of the original top-5 classes still in the new top-5.
* ``kl_divergence`` — mean KL(original ‖ tuned) of the 1000-class distributions, in nats: a
  continuous measure that moves before any top-1 answer flips.
* ``confidence_kept`` — mean probability the tuned model gives the original top-1 class,
  divided by the probability the untouched model gave it.

Only backbones built by :func:`ftlab.models.lite0.build_efficientnet_lite0` (the bundled,
offline one) can have the ImageNet head re-attached here; weights are matched by layer name,
so the backbone may have been tuned at any input size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ftlab.errors import ModelError

_LITE0_MARKERS = ("stem_conv", "block16_project_conv", "head_conv")


@dataclass
class ForgettingReport:
    """How much of the original ImageNet classifier's answers survive fine-tuning."""

    top1_agreement: float
    top5_overlap: float
    kl_divergence: float
    confidence_kept: float
    changed: list
    num_images: int

    @property
    def forgetting(self) -> float:
        """``1 - top1_agreement``: the share of reference photos whose top-1 answer changed."""
        return 1.0 - self.top1_agreement

    def as_dict(self) -> dict:
        """Plain figures (without the list of changed photos)."""
        out = asdict(self)
        out.pop("changed")
        out["forgetting"] = self.forgetting
        return out

    def __str__(self) -> str:
        return (f"top-1 agreement {self.top1_agreement:.0%} ({self.num_images - len(self.changed)}/"
                f"{self.num_images} photos unchanged), top-5 overlap {self.top5_overlap:.0%}, "
                f"KL {self.kl_divergence:.3f} nats, confidence kept {self.confidence_kept:.0%}")


def lite0_backbone(model):
    """``ftlab.blocks.find_backbone(model)``, refused unless it is the EfficientNet-Lite0 of ``ftlab.models.lite0``.

    Raises:
        ModelError: no layer structure of ``build_efficientnet_lite0`` is found.
    """
    from ftlab.blocks import find_backbone

    backbone = find_backbone(model)
    names = {layer.name for layer in getattr(backbone, "layers", [])}
    if not all(marker in names for marker in _LITE0_MARKERS):
        raise ModelError(f"model {model.name!r} holds no EfficientNet-Lite0 backbone: forgetting is measured "
                         "for backbones built by ftlab.models.lite0 / build_backbone('efficientnet_lite0')")
    return backbone


_HEAD_MODELS: dict = {}


def with_imagenet_head(model, image_size: int = 224, reuse: bool = True):
    """The original 1000-class ImageNet classifier on top of a (possibly tuned) backbone.

    Builds EfficientNet-Lite0 with its ``predictions`` layer (bundled ImageNet weights), then
    copies every backbone weight from ``model`` by layer name. BatchNorm statistics come along,
    so whatever fine-tuning changed is what the old classifier now sees.

    Args:
        model: a Lite0 backbone, or a classifier that contains one (``build_classifier``).
        image_size: input side of the returned model (224: what ImageNet was trained at).
        reuse: keep one such model per image size and only copy new weights into it (building
            a model costs seconds and memory; a lesson measures forgetting many times). The
            returned model is then shared: the next call overwrites its weights.

    Returns:
        keras.Model, RGB 0..255 images → 1000 ImageNet probabilities.

    Example:
        >>> imagenet_model = with_imagenet_head(tuned_classifier)  # doctest: +SKIP
        >>> imagenet_model.predict(ftlab.data.samples.reference_photos()).argmax(-1)  # doctest: +SKIP
    """
    from ftlab.models import lite0

    backbone = lite0_backbone(model)
    full = _HEAD_MODELS.get(int(image_size)) if reuse else None
    if full is None:
        full = lite0.build_efficientnet_lite0(image_size=image_size, include_top=True, weights="imagenet",
                                              name="imagenet_on_tuned_backbone")
        if reuse:
            _HEAD_MODELS[int(image_size)] = full
    source = {layer.name: layer for layer in backbone.layers}
    for layer in full.layers:
        if layer.weights and layer.name in source:
            layer.set_weights(source[layer.name].get_weights())
    return full


def imagenet_probabilities(model, images, batch_size: int = 8) -> np.ndarray:
    """1000-class probabilities of the ImageNet head re-attached to ``model``'s backbone.

    The re-attached model is shared between calls (see :func:`with_imagenet_head`), so its
    ``predict`` function is traced once per image size, not once per comparison.

    Args:
        model: a Lite0 backbone or a classifier containing one; tuned or not.
        images: RGB 0..255 images ``(n, h, w, 3)`` at the size they are to be judged at (224).
    """
    images = np.asarray(images)
    head_model = with_imagenet_head(model, image_size=int(images.shape[1]))
    return np.asarray(head_model.predict(images.astype("float32"), batch_size=batch_size, verbose=0))


def compare_predictions(original_probs, tuned_probs, names=None) -> ForgettingReport:
    """Compare two sets of ImageNet probabilities for the same photos (pure NumPy).

    Args:
        original_probs: ``(n, 1000)`` probabilities of the untouched model.
        tuned_probs: ``(n, 1000)`` probabilities after fine-tuning.
        names: optional photo names, used in ``report.changed``.

    Returns:
        :class:`ForgettingReport`.

    Example:
        >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
        >>> q = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
        >>> r = compare_predictions(p, q, names=["cat", "cup"])
        >>> r.top1_agreement, r.changed
        (0.5, ['cup'])
    """
    p = np.asarray(original_probs, dtype=np.float64)
    q = np.asarray(tuned_probs, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2 or len(p) == 0:
        raise ValueError(f"compare_predictions: need two (n, classes) arrays of the same shape, got {p.shape} "
                         f"and {q.shape}")
    names = list(names) if names is not None else [str(i) for i in range(len(p))]
    top1_p, top1_q = p.argmax(1), q.argmax(1)
    same = top1_p == top1_q
    k = min(5, p.shape[1])
    top5_p = np.argsort(-p, axis=1)[:, :k]
    top5_q = np.argsort(-q, axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(top5_p, top5_q, strict=True)])
    eps = 1e-12
    kl = np.sum(p * (np.log(p + eps) - np.log(q + eps)), axis=1)
    rows = np.arange(len(p))
    kept = q[rows, top1_p] / np.maximum(p[rows, top1_p], eps)
    return ForgettingReport(top1_agreement=float(same.mean()), top5_overlap=float(overlap),
                            kl_divergence=float(np.mean(kl)), confidence_kept=float(np.mean(kept)),
                            changed=[n for n, s in zip(names, same, strict=True) if not s], num_images=len(p))


def measure_forgetting(original_model, tuned_model, images, names=None, original_probs=None) -> ForgettingReport:
    """Forgetting of ``tuned_model`` relative to ``original_model`` on reference photos.

    Both models get the original ImageNet ``predictions`` layer re-attached to their Lite0
    backbone (:func:`with_imagenet_head`), so the comparison is top-1 agreement of the *same*
    1000-class head before and after fine-tuning.

    Args:
        original_model: the untouched backbone (or classifier), or None when
            ``original_probs`` is given.
        tuned_model: the fine-tuned backbone or classifier.
        images: reference photos, RGB 0..255, e.g. ``ftlab.data.samples.reference_photos()``.
        names: optional photo names for ``report.changed``.
        original_probs: cached probabilities of the untouched model (saves one forward pass
            per comparison).

    Returns:
        :class:`ForgettingReport`.

    Example:
        >>> photos = ftlab.data.samples.reference_photos()  # doctest: +SKIP
        >>> print(measure_forgetting(backbone_before, tuned_model, photos))  # doctest: +SKIP
        top-1 agreement 86% (6/7 photos unchanged), ...
    """
    if original_probs is None:
        if original_model is None:
            raise ValueError("measure_forgetting: pass original_model or original_probs")
        original_probs = imagenet_probabilities(original_model, images)
    tuned_probs = imagenet_probabilities(tuned_model, images)
    return compare_predictions(original_probs, tuned_probs, names=names)


def reference_views(photos, size: int = 224, crops: int = 4) -> np.ndarray:
    """More reference images from a few photos: each whole photo, its mirror, and corner crops.

    Top-1 agreement on 7 photos moves in steps of 14 %; ~6 views per photo make it finer while
    every view is still a natural photo the ImageNet model recognises.

    Args:
        photos: list or dict of RGB uint8 photos at any size (``sample_photos()``).
        size: output side.
        crops: how many corner crops (0–4; each covers 70 % of the photo's sides).

    Returns:
        uint8 array ``(len(photos) * (2 + crops), size, size, 3)``, photo by photo.

    Example:
        >>> views = reference_views([np.zeros((50, 80, 3), np.uint8)], size=32)
        >>> views.shape
        (6, 32, 32, 3)
    """
    from ftlab.data.images import center_crop_resize

    if isinstance(photos, dict):
        photos = list(photos.values())
    if not 0 <= crops <= 4:
        raise ValueError(f"reference_views: crops={crops}; use 0..4")
    out = []
    for photo in photos:
        photo = np.asarray(photo, dtype=np.uint8)
        h, w = photo.shape[:2]
        ch, cw = int(h * 0.7), int(w * 0.7)
        corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)][:crops]
        pieces = [photo, photo[:, ::-1]] + [photo[t:t + ch, s:s + cw] for t, s in corners]
        for piece in pieces:
            out.append(center_crop_resize(np.ascontiguousarray(piece), size))
    return np.stack(out)
