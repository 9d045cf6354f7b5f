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
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from ftlab.errors import ModelError

# ---------------------------------------------------------------------------------------------
# Small layers


@keras.saving.register_keras_serializable(package="ftlab")
class FoldTime(layers.Layer):
    """``(batch, t, ...)`` → ``(batch·t, ...)``: lets a 2-D network run on every frame at once."""

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None or input_shape[1] is None else input_shape[0] * input_shape[1]
        return (batch, *input_shape[2:])


@keras.saving.register_keras_serializable(package="ftlab")
class UnfoldTime(layers.Layer):
    """``(batch·t, ...)`` → ``(batch, t, ...)``: the inverse of :class:`FoldTime`."""

    def __init__(self, num_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.num_frames = int(num_frames)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, self.num_frames, *inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // self.num_frames
        return (batch, self.num_frames, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "num_frames": self.num_frames}


@keras.saving.register_keras_serializable(package="ftlab")
class TemporalEdgePad(layers.Layer):
    """Pad the time axis (axis 1) by repeating the first and last frame ``pad`` times."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, inputs):
        return _edge_pad(inputs, self.pad, self.pad)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + 2 * self.pad
        return (input_shape[0], t, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="ftlab")
class DepthwiseConv3D(layers.Layer):
    """Depthwise 3-D convolution: kernel ``(t, k, k, channels, depth_multiplier)``.

    Time: stride 1, output length = input length, edge padding (first/last frame repeated).
    Space: stride ``strides`` and "same" padding exactly as ``keras.layers.DepthwiseConv2D``.
    Computed as one depthwise 2-D convolution per temporal tap, summed (see module notes).

    Example:
        >>> layer = DepthwiseConv3D((3, 5, 5))  # doctest: +SKIP
        >>> layer(np.zeros((2, 8, 14, 14, 40))).shape  # doctest: +SKIP
        (2, 8, 14, 14, 40)
    """

    def __init__(self, kernel_size, strides=1, depth_multiplier: int = 1, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = (strides, strides) if isinstance(strides, int) else tuple(int(s) for s in strides)
        self.depth_multiplier = int(depth_multiplier)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        t, kh, kw = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(t, kh, kw, channels, self.depth_multiplier),
                                      initializer="glorot_uniform")
        self.bias = (self.add_weight(name="bias", shape=(channels * self.depth_multiplier,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        t = self.kernel_size[0]
        frames = inputs.shape[1]
        pad = t // 2
        padded = _edge_pad(inputs, pad, t - 1 - pad)
        total = None
        for tap in range(t):
            window = padded[:, tap:tap + frames]
            flat = ops.reshape(window, (-1, *inputs.shape[2:]))
            out = ops.depthwise_conv(flat, self.kernel[tap], strides=self.strides, padding="same")
            total = out if total is None else total + out
        if self.bias is not None:
            total = total + self.bias
        return ops.reshape(total, (-1, frames, *total.shape[1:]))

    def compute_output_shape(self, input_shape):
        h, w = input_shape[2:4]
        sh, sw = self.strides
        out_h = None if h is None else math.ceil(h / sh)
        out_w = None if w is None else math.ceil(w / sw)
        return (input_shape[0], input_shape[1], out_h, out_w, input_shape[-1] * self.depth_multiplier)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "depth_multiplier": self.depth_multiplier, "use_bias": self.use_bias}


def _edge_pad(inputs, before: int, after: int):
    parts = []
    if before:
        parts.append(ops.repeat(inputs[:, :1], before, axis=1))
    parts.append(inputs)
    if after:
        parts.append(ops.repeat(inputs[:, -1:], after, axis=1))
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)


@keras.saving.register_keras_serializable(package="ftlab")
class GridAveragePooling2D(layers.Layer):
    """Average a feature map into a ``grid × grid`` layout and flatten it.

    Works on images ``(batch, h, w, c)`` → ``(batch, grid²·c)`` and on clips
    ``(batch, t, h, w, c)`` → ``(batch, t, grid²·c)`` (each frame pooled on its own).
    Global average pooling (grid 1) throws away *where* things are, so a head on such features
    cannot see sideways motion; a coarse 2×2 grid keeps enough of it.
    """

    def __init__(self, grid: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.grid = int(grid)

    def call(self, inputs):
        h, w = inputs.shape[-3], inputs.shape[-2]
        if self.grid == 1:
            return ops.mean(inputs, axis=(-3, -2))
        rows = [round(i * h / self.grid) for i in range(self.grid + 1)]
        cols = [round(j * w / self.grid) for j in range(self.grid + 1)]
        cells = []
        for i in range(self.grid):
            for j in range(self.grid):
                r0, r1 = rows[i], max(rows[i + 1], rows[i] + 1)
                c0, c1 = cols[j], max(cols[j + 1], cols[j] + 1)
                cells.append(ops.mean(inputs[..., r0:r1, c0:c1, :], axis=(-3, -2)))
        return ops.concatenate(cells, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], input_shape[-1] * self.grid * self.grid)

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}


@keras.saving.register_keras_serializable(package="ftlab")
class FrameDifferences(layers.Layer):
    """``(batch, t, d)`` → ``(batch, t-1, d)``: feature of frame ``i+1`` minus feature of frame ``i``.

    What does not move (the background, the figure's look) cancels out; what changes remains.
    The same idea as the "RGB difference" stream of temporal segment networks (Wang et al., 2016).
    """

    def call(self, inputs):
        return inputs[:, 1:] - inputs[:, :-1]

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], t, *input_shape[2:])


@keras.saving.register_keras_serializable(package="ftlab")
class AddPosition(layers.Layer):
    """Adds a learned embedding of each frame's position in the clip."""

    def __init__(self, num_frames: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.num_frames, self.width = int(num_frames), int(width)

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=(self.num_frames, self.width),
                                         initializer=keras.initializers.RandomNormal(stddev=0.1))

    def call(self, inputs):
        return inputs + self.positions

    def get_config(self):
        return {**super().get_config(), "num_frames": self.num_frames, "width": self.width}


# ---------------------------------------------------------------------------------------------
# Walking a functional graph


def _walk(model, seeds: dict, operation_fn):
    """Re-run ``model``'s graph from ``seeds`` ({id(reference tensor): new tensor}).

    Each node's operation is replaced by ``operation_fn(operation)``; nodes whose inputs cannot be
    reached from the seeds are skipped. Returns the new outputs (ModelError when one is
    unreachable). Modelled on Keras' own ``Function._run_through_graph``.
    """
    tensors = dict(seeds)
    nodes_by_depth = model._nodes_by_depth
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue
            args, kwargs = node.arguments.fill_in(tensors)
            outputs = operation_fn(node.operation)(*args, **kwargs)
            for reference, value in zip(node.outputs, keras.tree.flatten(outputs)):
                tensors[id(reference)] = value
    missing = [x.name for x in model.outputs if id(x) not in tensors]
    if missing:
        raise ModelError(f"model {model.name!r}: output(s) {missing} cannot be computed from the new "
                         "input; a skip connection probably crosses the split point (split between blocks)")
    return [tensors[id(x)] for x in model.outputs]


def _is_functional(operation) -> bool:
    return isinstance(operation, keras.Model) and hasattr(operation, "_nodes_by_depth")


def _first_tensor_of(model, prefix: str):
    """The input tensor of the first layer (in graph order) whose name starts with ``prefix``."""
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            op = node.operation
            if op is not None and not node.is_input and op.name.startswith(prefix):
                if len(node.input_tensors) != 1:
                    raise ModelError(f"layer {op.name!r} has {len(node.input_tensors)} inputs; "
                                     "split at the first layer of a block")
                return node.input_tensors[0]
    names = sorted({layer.name.split("_")[0] for layer in model.layers})
    raise ModelError(f"model {model.name!r} has no layer named {prefix}*; choose one of {names}")


def flatten_model(model):
    """Inline nested functional models, so every layer is visible to :func:`split_backbone`."""
    if not any(_is_functional(layer) for layer in model.layers):
        return model

    def operation_fn(op):
        if _is_functional(op):
            inner = flatten_model(op)
            return lambda *args, **kwargs: _walk(inner, {id(r): v for r, v in zip(inner.inputs, args)},
                                                 lambda o: o)[0]
        return op

    inputs = [keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name) for x in model.inputs]
    outputs = _walk(model, {id(r): v for r, v in zip(model.inputs, inputs)}, operation_fn)
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def split_backbone(backbone, at: str = "block12"):
    """Cut a 2-D backbone into a lower and an upper model at the first layer named ``at*``.

    The two parts share the backbone's layers (and weights): ``upper(lower(x)) == backbone(x)``.

    Args:
        backbone: functional Keras model (e.g. ``ftlab.models.backbones.build_backbone()``).
        at: name prefix of the first layer of the upper part, e.g. ``"block12"`` (EfficientNet-Lite0:
            the last two stages, blocks 12–16, plus the head) or ``"block06"``.

    Returns:
        ``(lower, upper)`` Keras models.

    Raises:
        ModelError: no such layer, or a skip connection crosses the cut.

    Example:
        >>> lower, upper = split_backbone(backbone, "block12")  # doctest: +SKIP
        >>> lower.output.shape, upper.output.shape  # doctest: +SKIP
        ((None, 7, 7, 112), (None, 1280))
    """
    backbone = flatten_model(backbone)
    cut = _first_tensor_of(backbone, at)
    lower = keras.Model(backbone.inputs, cut, name=f"{backbone.name}_below_{at}")
    upper_input = keras.Input(shape=cut.shape[1:], name=f"{at}_input")
    outputs = _walk(backbone, {id(cut): upper_input}, lambda op: op)
    upper = keras.Model(upper_input, outputs[0], name=f"{backbone.name}_from_{at}")
    return lower, upper


# ---------------------------------------------------------------------------------------------
# Inflation


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (the extra pixel goes after), as Conv2D(padding="same") uses."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


_ELEMENTWISE = (layers.ReLU, layers.Activation, layers.Add, layers.Multiply, layers.Subtract,
                layers.Average, layers.Maximum, layers.Dropout, layers.Rescaling, layers.Normalization,
                layers.LeakyReLU, layers.ELU, layers.Softmax, layers.Dense, layers.Identity)


def inflate_kernel(kernel, time_kernel: int):
    """``(k, k, …)`` → ``(t, k, k, …)``: repeat along a new time axis and divide by ``t``.

    Example:
        >>> import numpy as np
        >>> inflate_kernel(np.ones((3, 3, 1, 1)), 3).sum() == np.ones((3, 3, 1, 1)).sum()
        True
    """
    import numpy as np

    kernel = np.asarray(kernel)
    return np.repeat(kernel[None], time_kernel, axis=0) / time_kernel


def _inflate_operation(op, time_kernel: int, pointwise_time_kernel: int, freeze_batchnorm: bool):
    """A callable that applies the 3-D version of the 2-D layer ``op`` (with its weights)."""

    def conv(x, *args, **kwargs):
        kh, kw = op.kernel_size
        t = pointwise_time_kernel if (kh, kw) == (1, 1) else time_kernel
        if op.dilation_rate not in ((1, 1), 1) or op.groups != 1 or op.data_format != "channels_last":
            raise ModelError(f"layer {op.name!r}: only channels_last, undilated, ungrouped Conv2D can be inflated")
        sh, sw = op.strides
        if t > 1:
            x = TemporalEdgePad(t // 2, name=f"{op.name}_tpad")(x)
        if op.padding == "same" and (kh > 1 or kw > 1):
            pads = (_same_pads(x.shape[2], kh, sh), _same_pads(x.shape[3], kw, sw))
            x = layers.ZeroPadding3D(((0, 0), *pads), name=f"{op.name}_pad")(x)
        new = layers.Conv3D(op.filters, (t, kh, kw), strides=(1, sh, sw), padding="valid",
                            use_bias=op.use_bias, activation=op.activation, name=op.name)
        y = new(x)
        weights = op.get_weights()
        new.set_weights([inflate_kernel(weights[0], t), *weights[1:]])
        return y

    def depthwise(x, *args, **kwargs):
        kh, kw = op.kernel_size
        t = pointwise_time_kernel if (kh, kw) == (1, 1) else time_kernel
        if op.padding != "same" or op.dilation_rate not in ((1, 1), 1):
            raise ModelError(f"layer {op.name!r}: only padding='same', undilated DepthwiseConv2D can be inflated")
        new = DepthwiseConv3D((t, kh, kw), strides=op.strides, depth_multiplier=op.depth_multiplier,
                              use_bias=op.use_bias, name=op.name)
        y = new(x)
        weights = op.get_weights()
        new.set_weights([inflate_kernel(weights[0], t), *weights[1:]])
        if op.activation is not None and op.activation is not keras.activations.linear:
            y = layers.Activation(op.activation, name=f"{op.name}_act")(y)
        return y

    def batchnorm(x, *args, **kwargs):
        config = op.get_config()
        if config["axis"] not in (-1, [-1], 3, [3]):
            raise ModelError(f"layer {op.name!r}: BatchNormalization must normalise the channel axis")
        config["axis"] = -1
        new = layers.BatchNormalization.from_config(config)
        y = new(x)
        new.set_weights(op.get_weights())
        new.trainable = op.trainable and not freeze_batchnorm
        return y

    def zero_padding(x, *args, **kwargs):
        return layers.ZeroPadding3D(((0, 0), *op.padding), name=op.name)(x)

    def global_pool(kind):
        def call(x, *args, **kwargs):
            cls = layers.GlobalAveragePooling3D if kind == "avg" else layers.GlobalMaxPooling3D
            return cls(keepdims=op.keepdims, name=op.name)(x)
        return call

    def elementwise(*args, **kwargs):
        new = type(op).from_config(op.get_config())
        y = new(*args, **kwargs)
        if op.get_weights():
            new.set_weights(op.get_weights())
        return y

    def nested(*args, **kwargs):
        return _inflate_graph(op, args[0], time_kernel, pointwise_time_kernel, freeze_batchnorm)

    if isinstance(op, layers.DepthwiseConv2D):  # (a subclass of Conv2D's base: test it first)
        return depthwise
    if isinstance(op, layers.Conv2D):
        return conv
    if isinstance(op, layers.BatchNormalization):
        return batchnorm
    if isinstance(op, layers.ZeroPadding2D):
        return zero_padding
    if isinstance(op, layers.GlobalAveragePooling2D):
        return global_pool("avg")
    if isinstance(op, layers.GlobalMaxPooling2D):
        return global_pool("max")
    if isinstance(op, _ELEMENTWISE):
        return elementwise
    if _is_functional(op):
        return nested
    raise ModelError(f"layer {op.name!r} ({type(op).__name__}) has no 3-D version in ftlab.video.models.inflate; "
                     "inflate from a later block, or use the features method")


def _inflate_graph(model, clip_input, time_kernel, pointwise_time_kernel, freeze_batchnorm):
    if len(model.inputs) != 1:
        raise ModelError(f"model {model.name!r} has {len(model.inputs)} inputs; inflation needs one")
    outputs = _walk(model, {id(model.inputs[0]): clip_input},
                    lambda op: _inflate_operation(op, time_kernel, pointwise_time_kernel, freeze_batchnorm))
    return outputs[0]


def inflate(model, num_frames: int, time_kernel: int = 3, pointwise_time_kernel: int = 1,
            freeze_batchnorm: bool = True):
    """Inflate a functional 2-D Keras model into a 3-D one that reads clips (I3D).

    Conversions: ``Conv2D`` → ``Conv3D`` (kernel repeated over ``t`` and divided by ``t``; time
    stride 1; time padded by repeating edge frames; space padded like the 2-D layer);
    ``DepthwiseConv2D`` → :class:`DepthwiseConv3D` (same rule); ``BatchNormalization``,
    activations, ``Add``, ``Dense``, ``Rescaling`` unchanged; ``ZeroPadding2D`` → ``ZeroPadding3D``;
    global pooling over (t, h, w). Layers keep their names, so ``blockNN_*`` stays meaningful.

    Args:
        model: functional 2-D model with one input ``(h, w, c)``.
        num_frames: clip length ``t`` of the new input ``(t, h, w, c)``.
        time_kernel: temporal size of the inflated ``k×k`` kernels (odd).
        pointwise_time_kernel: temporal size given to ``1×1`` kernels (1 keeps them per-frame).
        freeze_batchnorm: keep BatchNorm in inference mode (``trainable=False``), the usual choice
            when fine-tuning on little data.

    Returns:
        a Keras model; on a clip of ``t`` identical frames its output equals ``model``'s output on
        one frame (up to float rounding).

    Example:
        >>> lower, upper = split_backbone(backbone, "block12")  # doctest: +SKIP
        >>> upper3d = inflate(upper, num_frames=8)  # doctest: +SKIP
        >>> upper3d.input.shape  # doctest: +SKIP
        (None, 8, 7, 7, 112)
    """
    if time_kernel < 1 or time_kernel % 2 == 0 or pointwise_time_kernel < 1 or pointwise_time_kernel % 2 == 0:
        raise ValueError("time_kernel and pointwise_time_kernel must be odd and ≥ 1")
    if len(model.inputs) != 1:
        raise ModelError(f"model {model.name!r} has {len(model.inputs)} inputs; inflation needs one")
    clip_input = keras.Input(shape=(num_frames, *model.inputs[0].shape[1:]), name="clip")
    output = _inflate_graph(model, clip_input, time_kernel, pointwise_time_kernel, freeze_batchnorm)
    return keras.Model(clip_input, output, name=f"{model.name}_inflated")


def inflate_backbone(backbone, num_frames: int, at: str | None = "block12", time_kernel: int = 3,
                     pointwise_time_kernel: int = 1, freeze_batchnorm: bool = True):
    """A clip model: 2-D layers below ``at`` run per frame (frozen), the rest is inflated to 3-D.

    ``at=None`` inflates the whole network. Returns the model; on identical frames it matches the
    2-D backbone.

    Example:
        >>> model = inflate_backbone(backbone, num_frames=8, at="block12")  # doctest: +SKIP
        >>> model(np.zeros((1, 8, 112, 112, 3))).shape  # doctest: +SKIP
        (1, 1280)
    """
    if at is None:
        return inflate(backbone, num_frames, time_kernel, pointwise_time_kernel, freeze_batchnorm)
    lower, upper = split_backbone(backbone, at)
    lower.trainable = False
    upper3d = inflate(upper, num_frames, time_kernel, pointwise_time_kernel, freeze_batchnorm)
    clip = keras.Input(shape=(num_frames, *lower.inputs[0].shape[1:]), name="clip")
    maps = UnfoldTime(num_frames, name="unfold_time")(lower(FoldTime(name="fold_time")(clip)))
    return keras.Model(clip, upper3d(maps), name=f"{backbone.name}_inflated_from_{at}")


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
