"""The small Keras layers of lesson 04's video models (time folding, edge padding, depthwise 3-D, pooling).

Registered with Keras as ``ftlab>…`` so saved models load again. Used by :mod:`ftlab.video.inflation`
and the temporal heads of :mod:`ftlab.video.models`, which re-exports every layer here.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

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
