"""Backbones by name: images (RGB, 0..255) in, a feature vector out.

Introduced in lesson 00; lesson 01 compares several. Every backbone carries its own
preprocessing as its first layers, so you never call a ``preprocess_input``: feed RGB floats or
uint8 in 0..255 to any of them.

``efficientnet_lite0`` ships with ftlab (real ImageNet weights, works offline, the default).
The others are ``keras.applications`` models whose ImageNet weights Keras downloads on first use
(``~/.keras/models``, checked against Keras' own hashes); offline they raise a one-line
:class:`~ftlab.errors.OfflineError`. With ``weights=None`` every backbone builds, randomly
initialised, without the network ("training from scratch", and fast tests).

Example:
    >>> import ftlab
    >>> ftlab.models.backbones.list_backbones()[:3]
    ['efficientnet_lite0', 'mobilenet_v2', 'mobilenet_v3_small']
    >>> backbone = ftlab.models.backbones.build_backbone(image_size=160)  # doctest: +SKIP
    >>> backbone.output_shape  # doctest: +SKIP
    (None, 1280)
"""

from __future__ import annotations

from dataclasses import dataclass

from ftlab import settings
from ftlab.errors import DownloadError, ModelError, OfflineError

DEFAULT_BACKBONE = "efficientnet_lite0"

# ImageNet statistics the keras.applications "torch" and "caffe" modes normalise with
# (keras/src/applications/imagenet_utils.py).
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class _Spec:
    application: str | None  # attribute of keras.applications; None: ftlab's own Lite0
    image_size: int
    feature_dim: int
    preprocessing: str  # "lite0", "tf" (-1..1), "torch" (ImageNet mean/std), "caffe" (BGR - mean), "builtin"
    description: str


_SPECS = {
    "efficientnet_lite0": _Spec(
        None, 224, 1280, "lite0", "EfficientNet-Lite0, bundled ImageNet weights (offline)"
    ),
    "mobilenet_v2": _Spec("MobileNetV2", 224, 1280, "tf", "MobileNetV2 1.0"),
    "mobilenet_v3_small": _Spec("MobileNetV3Small", 224, 576, "builtin", "MobileNetV3-Small"),
    "mobilenet_v3_large": _Spec("MobileNetV3Large", 224, 960, "builtin", "MobileNetV3-Large"),
    "efficientnet_b0": _Spec("EfficientNetB0", 224, 1280, "builtin", "EfficientNet-B0"),
    "efficientnet_v2_b0": _Spec("EfficientNetV2B0", 224, 1280, "builtin", "EfficientNetV2-B0"),
    "resnet50": _Spec("ResNet50", 224, 2048, "caffe", "ResNet-50"),
    "resnet50_v2": _Spec("ResNet50V2", 224, 2048, "tf", "ResNet-50 v2"),
    "densenet121": _Spec("DenseNet121", 224, 1024, "torch", "DenseNet-121"),
    "convnext_tiny": _Spec("ConvNeXtTiny", 224, 768, "builtin", "ConvNeXt-Tiny"),
    "inception_v3": _Spec("InceptionV3", 299, 2048, "tf", "Inception v3"),
    "xception": _Spec("Xception", 299, 2048, "tf", "Xception"),
}


def list_backbones() -> list[str]:
    """Names :func:`build_backbone` accepts; the bundled, offline one comes first.

    Example:
        >>> "resnet50" in list_backbones()
        True
    """
    return list(_SPECS)


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ModelError(f"unknown backbone {name!r}; choose one of: {', '.join(_SPECS)}")
    return _SPECS[name]


def backbone_info(name: str = DEFAULT_BACKBONE) -> dict:
    """What a backbone is: default image size, feature size, and whether it works offline.

    Returns:
        dict with ``image_size``, ``feature_dim``, ``bundled`` (weights ship with ftlab),
        ``preprocessing`` (what its first layers do to 0..255 inputs) and ``description``.

    Example:
        >>> backbone_info("efficientnet_lite0")["bundled"]
        True
        >>> backbone_info("resnet50")["feature_dim"]
        2048
    """
    spec = _spec(name)
    return {
        "image_size": spec.image_size,
        "feature_dim": spec.feature_dim,
        "bundled": spec.application is None,
        "preprocessing": spec.preprocessing,
        "description": spec.description,
    }


def _preprocessing_layers(mode: str):
    """Layers that map RGB 0..255 to what a keras.applications model was trained on."""
    from keras import layers

    if mode == "tf":
        return [layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")]
    if mode == "torch":
        scale = [1.0 / (255.0 * s) for s in _TORCH_STD]
        offset = [-m / s for m, s in zip(_TORCH_MEAN, _TORCH_STD, strict=True)]
        return [layers.Rescaling(scale, offset=offset, name="preprocess")]
    if mode == "caffe":
        return [_caffe_layer_class()(name="preprocess")]
    return []


_CAFFE_CLASS = None

# Every class ftlab registers with ``keras.saving.register_keras_serializable(package="ftlab")``
# (saved as ``"registered_name": "ftlab>Name"``) and the module that defines it. A class is only
# known to Keras once that module has run its definition, so :func:`register_custom_objects`
# imports them before a ``.keras`` file is loaded in a fresh process. Add new classes here
# (tests/test_backbones.py checks that this table lists every registered class).
CUSTOM_OBJECT_MODULES = {
    "CaffePreprocessing": "ftlab.models.backbones",
    "ByteLevelTokenizer": "ftlab.text.model",
    "FoldTime": "ftlab.video.clip_layers",
    "UnfoldTime": "ftlab.video.clip_layers",
    "TemporalEdgePad": "ftlab.video.clip_layers",
    "DepthwiseConv3D": "ftlab.video.clip_layers",
    "GridAveragePooling2D": "ftlab.video.clip_layers",
    "FrameDifferences": "ftlab.video.clip_layers",
    "AddPosition": "ftlab.video.clip_layers",
}


def register_custom_objects(names=None) -> list[str]:
    """Make ftlab's custom Keras classes known to ``keras.saving``, so saved models reload.

    Args:
        names: the classes a model needs, as registered names (``"ftlab>CaffePreprocessing"``)
            or class names; names that are not ftlab's are ignored. None: all of them (this
            imports the text and video modules, and with them keras_hub).

    Returns:
        The registered names (``"ftlab>..."``) now known to Keras.

    Example:
        >>> register_custom_objects(["ftlab>CaffePreprocessing"])  # doctest: +SKIP
        ['ftlab>CaffePreprocessing']
    """
    import importlib

    if names is None:
        wanted = list(CUSTOM_OBJECT_MODULES)
    else:
        wanted = [n.split(">", 1)[1] if n.startswith("ftlab>") else n for n in names]
        wanted = [n for n in dict.fromkeys(wanted) if n in CUSTOM_OBJECT_MODULES]
    for module in dict.fromkeys(CUSTOM_OBJECT_MODULES[n] for n in wanted):
        if module == __name__:
            _caffe_layer_class()
        else:
            importlib.import_module(module)
    return [f"ftlab>{n}" for n in wanted]


def _caffe_layer_class():
    """``CaffePreprocessing``: RGB → BGR, minus the ImageNet mean (ResNet50's training input).

    Defined on first use so that importing this module does not import Keras; registered as
    ``ftlab>CaffePreprocessing``. A fresh process must define it before loading a saved model
    that uses it: :func:`register_custom_objects` does (``ftlab.train.load_model`` calls it).
    """
    global _CAFFE_CLASS
    if _CAFFE_CLASS is None:
        import keras

        @keras.saving.register_keras_serializable(package="ftlab")
        class CaffePreprocessing(keras.layers.Layer):
            def call(self, inputs):
                bgr = keras.ops.flip(keras.ops.cast(inputs, self.compute_dtype), axis=-1)
                return bgr - keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)

            def compute_output_shape(self, input_shape):
                return input_shape

        _CAFFE_CLASS = CaffePreprocessing
    return _CAFFE_CLASS


def build_backbone(
    name: str = DEFAULT_BACKBONE,
    image_size: int | None = None,
    weights: str | None = "imagenet",
    pooling: str | None = "avg",
):
    """Build a pretrained backbone: RGB images in 0..255 → pooled feature vector.

    Args:
        name: one of :func:`list_backbones` (default ``"efficientnet_lite0"``, bundled, offline).
        image_size: square input side; None → the backbone's own default (224, or 299).
        weights: ``"imagenet"`` or None (random initialisation, never touches the network).
        pooling: ``"avg"`` (default) or ``"max"`` → a vector of ``feature_dim`` values; None →
            the last feature map (for Grad-CAM).

    Returns:
        keras.Model named ``name``; its first layers do the model's own preprocessing.

    Raises:
        ModelError: unknown name or option.
        OfflineError: a ``keras.applications`` backbone with ImageNet weights while offline.
        DownloadError: online, but Keras could not download the weights.

    Example:
        >>> backbone = build_backbone("efficientnet_lite0", image_size=160)  # doctest: +SKIP
        >>> backbone.predict(images_uint8).shape  # doctest: +SKIP
        (8, 1280)
    """
    spec = _spec(name)
    if weights not in ("imagenet", None):
        raise ModelError(f"weights={weights!r}: use 'imagenet' or None (random initialisation)")
    if pooling not in ("avg", "max", None):
        raise ModelError(f"pooling={pooling!r}: use 'avg', 'max' or None")
    size = spec.image_size if image_size is None else int(image_size)
    if spec.application is None:
        from ftlab.models.lite0 import build_efficientnet_lite0

        return build_efficientnet_lite0(
            image_size=size, include_top=False, weights=weights, pooling=pooling, name=name
        )
    if weights == "imagenet" and settings.is_offline():
        raise OfflineError(
            f"backbone {name!r} needs to download ImageNet weights, and ftlab is offline; use the "
            f"bundled backbone {DEFAULT_BACKBONE!r} (or set FTLAB_OFFLINE=0 when online)"
        )
    import keras

    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = inputs
    for layer in _preprocessing_layers(spec.preprocessing):
        x = layer(x)
    constructor = getattr(keras.applications, spec.application)
    try:
        application = constructor(include_top=False, weights=weights, input_tensor=x, pooling=pooling)
    except ValueError as error:
        raise ModelError(f"backbone {name!r} at image_size={size}: {str(error).splitlines()[0]}") from None
    except Exception as error:
        if weights == "imagenet" and ("URL fetch failure" in str(error) or isinstance(error, OSError)):
            raise DownloadError(
                f"backbone {name!r}: downloading its ImageNet weights failed "
                f"({str(error).splitlines()[0][:160]}); check the connection, or use the bundled "
                f"{DEFAULT_BACKBONE!r}"
            ) from None
        raise
    return keras.Model(inputs, application.output, name=name)
