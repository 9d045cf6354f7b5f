"""Cost estimates of a freezing choice: trainable parameters, seconds per epoch, peak memory.

:class:`CostModel` is what the network map and the freeze panel read out (lesson 01 plots it).

About the estimates (never presented as measurements):

* **Seconds per epoch** by default come from this project's DESIGN notes §2 figures, measured on
  2 CPU cores with TensorFlow 2.21: EfficientNet-B0 at 224 px infers 78 images/s and fully
  fine-tunes at 12.5 images/s, and a head on cached features trains at ~21,000 images/s. They
  are scaled by the model's multiply-adds (computed from its layers' shapes) and by the share of
  multiply-adds that back-propagation must reach (everything above the lowest trainable layer).
  :meth:`FreezePanel.calibrate` replaces both anchors with a measurement of *this* model on
  *this* machine (a few batches, ~10 s) and the read-out then says "calibrated".
* **Peak memory** comes from a formula fitted to peak RSS measured on this project's machine
  for EfficientNet-Lite0 classifiers (batch 32; frozen 96 px 0.90 GB, 224 px 1.25 GB; full
  fine-tuning 96 px 1.28 GB, 160 px 1.61 GB, 224 px 2.19 GB; top 5 blocks at 96 px 1.01 GB): a
  fixed runtime cost, a forward-pass cost proportional to batch × pixels, and for training a
  term growing with the activations kept for back-propagation. It is an estimate for other
  backbones and sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ftlab.errors import ModelError

#: how the read-out line starts (tests parse it)
READOUT_PREFIX = "trainable parameters:"

# DESIGN.md §2 (EfficientNet-B0, 224 px, batch 32, 2 cores, tensorflow-cpu 2.21).
_B0_MACS_224 = 0.39e9  # EfficientNet-B0 multiply-adds at 224 px (Tan & Le 2019, table 2: 0.39B FLOPs)
DESIGN_ANCHORS = {
    "seconds_per_mac": (1 / 78) / _B0_MACS_224,  # inference: 78 images/s
    "backward_ratio": ((1 / 12.5) - (1 / 78)) / (1 / 78),  # full fine-tune 12.5 images/s → backward ≈ 5.2 × forward
    "cached_head_images_per_second": 21_000.0,
    "basis": "estimate scaled to this model from EfficientNet-B0 measured on 2 CPU cores (TensorFlow 2.21)",
}
# Peak-RSS formula (MB), fitted to the measurements listed in the module docstring.
_MEM_BASE_MB = 820.0
_MEM_FORWARD_MB_PER_PIXEL = 79.5 / (32 * 96 * 96)  # per image pixel in a batch
_MEM_KEPT_SCALE, _MEM_KEPT_POWER = 14.5, 0.53  # MB = scale × (kept activations, MB) ** power
_MEM_BASIS = "estimate fitted to peak RSS measured for EfficientNet-Lite0 (batch 32, 96–224 px)"



def _size(variable) -> int:
    return int(np.prod([int(d) for d in variable.shape])) if len(variable.shape) else 1


def _is_batchnorm(layer) -> bool:
    return type(layer).__name__ in ("BatchNormalization", "SyncBatchNormalization")


def _trainable_by_nature(layer) -> list:
    """The weights a layer trains when it is trainable (BatchNorm's moving statistics never are).

    Keras 3 flips every variable's ``trainable`` flag with the layer's, but keeps the lists the
    layer created them in; nested models are walked layer by layer.
    """
    sublayers = getattr(layer, "layers", None)
    if sublayers:
        return [w for sub in sublayers for w in _trainable_by_nature(sub)]
    own = getattr(layer, "_trainable_variables", None)
    if own is not None:
        return list(own)
    return [w for w in layer.weights if w.name not in ("moving_mean", "moving_variance")]


def _layer_macs(layer) -> int:
    """Multiply-adds of one call of a convolution or dense layer (0 for the others)."""
    try:
        out_shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    macs = 0
    for weight in layer.weights:
        if weight.name not in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            continue
        if len(out_shape) == 4 and len(weight.shape) == 4 and weight.name != "pointwise_kernel":
            spatial = int(out_shape[1] or 0) * int(out_shape[2] or 0)
            macs += spatial * _size(weight)
        elif weight.name == "pointwise_kernel" and len(out_shape) == 4:
            macs += int(out_shape[1] or 0) * int(out_shape[2] or 0) * _size(weight)
        else:
            macs += _size(weight)
    return macs


def _layer_activations(layer) -> int:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    if isinstance(shape, list):
        return 0
    dims = [int(d) for d in shape[1:] if d is not None]
    return int(np.prod(dims)) if dims and len(dims) == len(shape) - 1 else 0


@dataclass
class CostEstimate:
    """What training with a given freeze choice is expected to cost (see the module docstring)."""

    trainable: int
    total: int
    seconds_per_epoch: float
    peak_memory_gb: float
    cached_seconds_per_epoch: float | None
    extraction_seconds: float | None
    time_basis: str
    memory_basis: str

    def lines(self) -> list[str]:
        """The read-out lines, as the panel shows them."""
        share = 100 * self.trainable / max(1, self.total)
        out = [f"{READOUT_PREFIX} {self.trainable:,} of {self.total:,} ({share:.1f}%)"]
        if self.cached_seconds_per_epoch is not None:
            out.append(f"≈ {self.seconds_per_epoch:.1f} s per epoch through the frozen backbone; with cached "
                       f"features ≈ {self.cached_seconds_per_epoch:.2f} s per epoch after a one-off "
                       f"≈ {self.extraction_seconds:.1f} s extraction ({self.time_basis})")
        else:
            out.append(f"≈ {self.seconds_per_epoch:.1f} s per epoch ({self.time_basis})")
        out.append(f"≈ {self.peak_memory_gb:.2f} GB peak memory ({self.memory_basis})")
        return out


class CostModel:
    """Per-group multiply-adds, activations and parameters of a model, for quick estimates.

    Built once from the model's layer shapes (no forward pass), so estimates for any freeze
    choice cost microseconds: what a slider needs.

    Args:
        model: a backbone or a classifier containing one (``ftlab.models.heads.build_classifier``).
        by: ``"stage"`` or ``"block"`` groups (:mod:`ftlab.freeze`).

    Example:
        >>> costs = CostModel(model)  # doctest: +SKIP
        >>> costs.estimate({"stage7", "head"}, n_train=120, n_val=240).lines()[0]  # doctest: +SKIP
        'trainable parameters: 1,029,004 of 3,434,828 (30.0%)'
    """

    def __init__(self, model, by: str = "stage", anchors: dict | None = None):
        from ftlab import freeze

        if by not in ("stage", "block"):
            raise ModelError(f"by={by!r}: use 'stage' or 'block'")
        self.model = model
        self.by = by
        groups = freeze.stage_groups(model) if by == "stage" else freeze.block_groups(model)
        self.classifier_layers = groups.pop(freeze.CLASSIFIER_GROUP, [])
        self.group_names = list(groups)
        self.groups = groups
        self.macs = {name: sum(_layer_macs(layer) for layer in layers) for name, layers in groups.items()}
        self.activations = {name: sum(_layer_activations(layer) for layer in layers) for name, layers in groups.items()}
        self.params = {name: self._eligible(layers, bn_frozen=False) for name, layers in groups.items()}
        self.params_bn_frozen = {name: self._eligible(layers, bn_frozen=True) for name, layers in groups.items()}
        self.classifier_params = self._eligible(self.classifier_layers, bn_frozen=False)
        self.classifier_macs = sum(_layer_macs(layer) for layer in self.classifier_layers)
        self.total_params = int(model.count_params())
        self.total_macs = max(1, sum(self.macs.values()) + self.classifier_macs)
        shape = model.input_shape
        self.pixels = int(shape[1] or 224) * int(shape[2] or 224)
        self.anchors = dict(anchors or DESIGN_ANCHORS)

    @staticmethod
    def _eligible(layers, bn_frozen: bool) -> int:
        """Parameters that become trainable when these layers are unfrozen (moving statistics never do)."""
        count = 0
        for layer in layers:
            if bn_frozen and _is_batchnorm(layer):
                continue
            count += sum(_size(w) for w in _trainable_by_nature(layer))
        return count

    def trainable_count(self, selected, bn_frozen: bool = True) -> int:
        """Trainable parameters once ``selected`` groups (and the classifier's own layers) train."""
        table = self.params_bn_frozen if bn_frozen else self.params
        return self.classifier_params + sum(table[name] for name in selected)

    def estimate(self, selected, bn_frozen: bool = True, n_train: int = 1000, n_val: int = 0,
                 batch_size: int = 32) -> CostEstimate:
        """Trainable parameters, seconds per epoch and peak memory for a freeze choice.

        Args:
            selected: names of the groups that train.
            bn_frozen: BatchNorm layers stay frozen.
            n_train, n_val: images per epoch (training, validation).
            batch_size: images per training step.
        """
        unknown = set(selected) - set(self.group_names)
        selected = [name for name in self.group_names if name in set(selected)]
        if unknown:
            raise ModelError(f"unknown group(s) {sorted(unknown)}; groups: {', '.join(self.group_names)}")
        seconds_per_mac = self.anchors["seconds_per_mac"]
        forward = self.total_macs * seconds_per_mac
        if selected:
            lowest = self.group_names.index(selected[0])
            reached = self.group_names[lowest:]
            share = (sum(self.macs[name] for name in reached) + self.classifier_macs) / self.total_macs
            kept_mb = batch_size * 4 * sum(self.activations[name] for name in reached) / 1e6
        else:
            share, kept_mb = 0.0, 0.0
        per_image_train = forward * (1 + self.anchors["backward_ratio"] * share)
        seconds = n_train * per_image_train + n_val * forward
        cached = extraction = None
        if not selected:
            cached = (n_train + n_val) / self.anchors["cached_head_images_per_second"]
            extraction = (n_train + n_val) * forward
        memory_mb = _MEM_BASE_MB + _MEM_FORWARD_MB_PER_PIXEL * batch_size * self.pixels
        if kept_mb > 0:
            memory_mb += _MEM_KEPT_SCALE * kept_mb**_MEM_KEPT_POWER
        return CostEstimate(trainable=self.trainable_count(selected, bn_frozen), total=self.total_params,
                            seconds_per_epoch=seconds, peak_memory_gb=memory_mb / 1024,
                            cached_seconds_per_epoch=cached, extraction_seconds=extraction,
                            time_basis=self.anchors["basis"], memory_basis=_MEM_BASIS)

    def calibrate(self, batch_size: int = 16, steps: int = 3) -> dict:
        """Measure forward and full fine-tuning time of this architecture on this machine.

        Times ``steps`` batches of inference and of training with every layer trainable on a
        clone of the model (random weights, so the model itself is untouched), and replaces the
        DESIGN anchors with the measured figures.

        Returns:
            the new anchors (``seconds_per_mac``, ``backward_ratio``, ``basis``, plus
            ``forward_ms_per_image`` and ``train_ms_per_image`` as measured).
        """
        import keras

        clone = keras.models.clone_model(self.model)
        clone.trainable = True
        shape = (batch_size, *[int(d or 224) for d in self.model.input_shape[1:]])
        x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
        out = clone.output_shape[-1]
        y = np.zeros((batch_size,), dtype="int32") if out and out > 1 else np.zeros((batch_size, 1), "float32")
        loss = "sparse_categorical_crossentropy" if out and out > 1 else "mse"
        clone.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss, jit_compile=False)
        clone.predict_on_batch(x)
        start = time.perf_counter()
        for _ in range(steps):
            clone.predict_on_batch(x)
        forward = (time.perf_counter() - start) / (steps * batch_size)
        clone.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(steps):
            clone.train_on_batch(x, y)
        train = (time.perf_counter() - start) / (steps * batch_size)
        self.anchors = {
            "seconds_per_mac": forward / self.total_macs,
            "backward_ratio": max(0.0, (train - forward) / forward),
            "cached_head_images_per_second": self.anchors["cached_head_images_per_second"],
            "basis": f"calibrated on this machine: {1000 * forward:.1f} ms/image forward, "
                     f"{1000 * train:.1f} ms/image full fine-tuning (batch {batch_size})",
            "forward_ms_per_image": 1000 * forward,
            "train_ms_per_image": 1000 * train,
        }
        return dict(self.anchors)
