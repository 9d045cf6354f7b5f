"""Video models built from an image network: temporal heads on frame features, and inflation.

Introduced in lesson 04. Two ways to reuse a 2-D ImageNet backbone for clips ``(t, h, w, 3)``:

1. **Frame features + temporal head.** Run the frozen 2-D backbone on every frame (features are
   cached), then learn how the features change over time with a small head:
   :func:`build_temporal_head` (temporal convolution, GRU, or attention pooling with positions).
2. **Inflation (I3D, Carreira & Zisserman 2017).** Turn the 2-D network into a 3-D one: every
   ``k×k`` kernel becomes ``t×k×k`` by repeating it ``t`` times along time and dividing by ``t``,
   so on a clip of identical frames the 3-D network computes exactly what the 2-D one computes on
   one frame. Fine-tuning then teaches the temporal taps to differ. :func:`inflate` converts any
   functional Keras graph made of Conv2D, DepthwiseConv2D, BatchNormalization, activations, Add
   and global pooling.

Choices made here (and tested in ``tests/test_video_models.py``):

* **Depthwise 3-D.** Keras 3 has no ``DepthwiseConv3D``, and ``Conv3D(groups=channels)`` runs
  ~100× slower than a depthwise 2-D convolution on CPU (measured: 2.1 s vs 0.017 s for
  4×8×14×14×240, 3×5×5). :class:`DepthwiseConv3D` computes the exact 3-D depthwise convolution as
  ``t`` per-frame depthwise 2-D convolutions (one per temporal tap) summed over time: same
  result, same spatial "same" padding as the 2-D layer, fast kernels.
* **Temporal padding repeats the first and last frame** (``edge``), not zeros: with zeros the
  first and last output frames would see only ``(t-1)/t`` of the kernel and the identity above
  would break at the clip's ends.
* **1×1 convolutions stay 1×1×1** (``pointwise_time_kernel=1``): in an inverted-residual network
  all spatial mixing is in the depthwise ``k×k`` kernels, so those carry the time axis
  (a channel-separated 3-D network, as in Tran et al. 2019, CSN).
* **Inflate only the top stages** (:func:`split_backbone`): the lower blocks stay 2-D, frozen and
  run per frame (their feature maps can be cached), and only the last stages become 3-D and are
  fine-tuned. On 2 CPU cores that is the difference between seconds and many minutes per epoch.

The layers live in :mod:`ftlab.video.clip_layers` and the graph walking and inflation in
:mod:`ftlab.video.inflation`; this module holds the heads and re-exports both, so
``ftlab.video.models.<name>`` reaches every one.
"""

from __future__ import annotations

import keras
from keras import layers

from ftlab.errors import ModelError

# Re-exported: ftlab.video.models stays the one public address of lesson 04's models.
from ftlab.video.clip_layers import (  # noqa: F401
    AddPosition,
    DepthwiseConv3D,
    FoldTime,
    FrameDifferences,
    GridAveragePooling2D,
    TemporalEdgePad,
    UnfoldTime,
    _edge_pad,
)
from ftlab.video.inflation import (  # noqa: F401
    _ELEMENTWISE,
    _first_tensor_of,
    _inflate_graph,
    _inflate_operation,
    _is_functional,
    _same_pads,
    _walk,
    flatten_model,
    inflate,
    inflate_backbone,
    inflate_kernel,
    split_backbone,
)

# ---------------------------------------------------------------------------------------------
# Heads


def frame_feature_model(backbone, grid: int = 1):
    """Per-frame features: the backbone's last feature map, average-pooled to ``grid × grid``.

    ``grid=1`` is the usual global average pooling; ``grid=2`` keeps where things are (left/right,
    top/bottom), which sideways motion needs (4× the feature size).

    Example:
        >>> features = frame_feature_model(backbone, grid=2)  # doctest: +SKIP
        >>> features.output.shape  # doctest: +SKIP
        (None, 5120)
    """
    backbone = flatten_model(backbone)
    pools = [layer for layer in backbone.layers
             if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D))]
    if pools:
        feature_map = pools[-1].input
    elif len(backbone.outputs[0].shape) == 4:
        feature_map = backbone.outputs[0]
    else:
        raise ModelError(f"backbone {backbone.name!r} has no global pooling layer and no 4-D output")
    pooled = GridAveragePooling2D(grid, name=f"grid{grid}_pool")(feature_map)
    return keras.Model(backbone.inputs, pooled, name=f"{backbone.name}_grid{grid}")


TEMPORAL_HEADS = ("conv", "gru", "attention", "mean", "single")


def temporal_head_layers(x, num_classes: int, kind: str = "conv", differences: bool = True, width: int = 64,
                         dropout: float = 0.5):
    """Apply a temporal head to a symbolic sequence ``x`` of frame features ``(t, d)``; returns logits.

    See :func:`build_temporal_head` for the kinds. Shared by the frozen-features model and the
    inflated one, so the two differ only in where the features come from.
    """
    if kind not in TEMPORAL_HEADS:
        raise ValueError(f"unknown head kind {kind!r}; choose one of {TEMPORAL_HEADS}")
    if kind in ("mean", "single"):
        x = layers.GlobalAveragePooling1D(name="time_mean")(x)
        x = layers.Dropout(dropout, name="feature_dropout")(x)
        return layers.Dense(num_classes, name="logits")(x)
    if differences:
        x = FrameDifferences(name="frame_differences")(x)
    frames = x.shape[1]
    x = layers.Dropout(dropout, name="feature_dropout")(x)
    x = layers.Dense(width, activation="relu", name="project")(x)
    if kind == "conv":
        x = layers.Conv1D(width, 3, padding="same", activation="relu", name="temporal_conv")(x)
        x = layers.GlobalAveragePooling1D(name="time_mean")(x)
    elif kind == "gru":
        x = layers.GRU(width, name="gru")(x)
    else:
        x = AddPosition(frames, width, name="add_position")(x)
        hidden = layers.Dense(width, activation="tanh", name="attention_hidden")(x)
        scores = layers.Dense(1, name="attention_score")(hidden)
        weights = layers.Softmax(axis=1, name="attention_weights")(scores)
        x = layers.Dot(axes=1, name="attention_pool")([weights, x])
        x = layers.Flatten(name="attention_flat")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, name="logits")(x)


def build_temporal_head(num_frames: int, feature_dim: int, num_classes: int, kind: str = "conv",
                        differences: bool = True, width: int = 64, dropout: float = 0.5, name: str | None = None):
    """A small classifier on a sequence of frame features ``(t, feature_dim)``.

    Kinds:
        ``conv``: per-frame projection, a temporal convolution (kernel 3), mean over time.
        ``gru``: per-frame projection, a GRU, its last state.
        ``attention``: per-frame projection plus a learned position embedding, then attention
            pooling (without positions it would be order-blind, like ``mean``).
        ``mean``: average over frames, then a linear layer: sees every frame but not their order.
        ``single``: one frame ``(1, feature_dim)``, a linear layer: the image-only baseline.

    Args:
        differences: ``conv``/``gru``/``attention`` read the differences between consecutive
            frames (:class:`FrameDifferences`) instead of the features themselves. On little data
            this is what makes them learn motion rather than memorise backgrounds (lesson 04
            measures both).
        width: units of the projection and the temporal layer.
        dropout: on the inputs and before the last layer.

    Returns:
        an uncompiled Keras model returning logits ``(num_classes,)``.

    Example:
        >>> head = build_temporal_head(8, 5120, 6, kind="gru")  # doctest: +SKIP
    """
    frames = 1 if kind == "single" else num_frames
    inputs = keras.Input(shape=(frames, feature_dim), name="frame_features")
    outputs = temporal_head_layers(inputs, num_classes, kind, differences, width, dropout)
    return keras.Model(inputs, outputs, name=name or f"{kind}_head")


def build_inflated_classifier(upper, num_frames: int, num_classes: int, time_kernel: int = 3, grid: int = 2,
                              readout: str = "temporal", kind: str = "conv", differences: bool = True,
                              width: int = 64, dropout: float = 0.5, freeze_batchnorm: bool = True):
    """The I3D-style classifier: inflated top stages, then a readout, trained on cached maps.

    Args:
        upper: the 2-D upper part from :func:`split_backbone` (feature map → pooled vector).
        num_frames: clip length.
        num_classes: outputs (logits).
        time_kernel: temporal size of the inflated kernels.
        grid: readout ``temporal``: each frame's last feature map is pooled to ``grid × grid``.
        readout: ``"temporal"`` keeps the time axis to the end (the inflated network has temporal
            stride 1) and reads it with :func:`temporal_head_layers`; ``"pool"`` is the original
            I3D readout, average over (t, h, w) then a linear layer. Averaging over time is
            order-blind at the start of fine-tuning, and on lesson 04's clips ``"pool"`` stayed
            at chance within the CPU budget (see ``benchmarks/bench_video.py``).
        kind, differences, width, dropout: the temporal head (readout ``temporal``).
        freeze_batchnorm: keep the inflated BatchNorm layers in inference mode.

    Example:
        >>> lower, upper = split_backbone(backbone, "block16")  # doctest: +SKIP
        >>> model = build_inflated_classifier(upper, 8, 6)  # doctest: +SKIP
    """
    if readout not in ("temporal", "pool"):
        raise ValueError(f"readout must be 'temporal' or 'pool', not {readout!r}")
    trunk = inflate(upper, num_frames, time_kernel=time_kernel, freeze_batchnorm=freeze_batchnorm)
    if readout == "pool":
        x = layers.Dropout(dropout, name="head_dropout")(trunk.output)
        return keras.Model(trunk.input, layers.Dense(num_classes, name="logits")(x), name="inflated_classifier")
    pools = [layer for layer in trunk.layers
             if isinstance(layer, (layers.GlobalAveragePooling3D, layers.GlobalMaxPooling3D))]
    if not pools:
        raise ModelError(f"model {upper.name!r} does not end in global pooling; cannot find its last feature map")
    feature_maps = pools[-1].input  # (batch, t, h, w, c)
    per_frame = GridAveragePooling2D(grid, name=f"grid{grid}_pool")(feature_maps)
    outputs = temporal_head_layers(per_frame, num_classes, kind, differences, width, dropout)
    return keras.Model(trunk.input, outputs, name="inflated_classifier")
