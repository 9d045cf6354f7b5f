"""2-D → 3-D inflation of a functional Keras backbone (I3D), and cutting a backbone in two.

Holds :func:`inflate`, :func:`inflate_backbone`, :func:`inflate_kernel`, :func:`split_backbone`
and :func:`flatten_model` (the design choices are in :mod:`ftlab.video.models`, which re-exports
them all). Used by lesson 04's inflated pipeline (:func:`ftlab.video.train.finetune`).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from ftlab.errors import ModelError
from ftlab.video.clip_layers import DepthwiseConv3D, FoldTime, TemporalEdgePad, UnfoldTime

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
