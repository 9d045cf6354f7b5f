"""Classifier heads: a pretrained backbone plus a new Dense layer for your classes.

Introduced in lesson 00 (the head on cached features) and lesson 01 (the full classifier).

The two-phase recipe these support:

1. train :func:`build_head` on feature vectors the frozen backbone computed once
   (``ftlab.features``), thousands of images per second;
2. copy it into :func:`build_classifier` with :func:`transfer_head_weights`, unfreeze the top
   blocks (``ftlab.freeze``) and fine-tune end to end at a low learning rate.

Both heads name their Dense layer ``"classifier"`` and give it the same weight shapes, so the
copy is exact: the full classifier predicts what the head predicted, before any fine-tuning.

Under mixed precision (``ftlab.setup()`` switches Keras to ``mixed_float16`` on a GPU) the layers
below compute in float16, but the ``"classifier"`` Dense + softmax always computes in float32
(``dtype="float32"``), as the Keras mixed precision guide recommends for the output layer:
float16 probabilities can underflow or overflow, which makes the loss numerically unstable.
"""

from __future__ import annotations

from ftlab.errors import ModelError

CLASSIFIER_LAYER = "classifier"


def _check_num_classes(num_classes) -> int:
    if int(num_classes) != num_classes or num_classes < 2:
        raise ModelError(f"num_classes={num_classes!r}: a classifier needs an integer ≥ 2")
    return int(num_classes)


def build_classifier(
    backbone, num_classes: int, dropout_rate: float = 0.2, augmentation=None, name: str | None = None
):
    """Put a new softmax layer for ``num_classes`` on top of a backbone.

    Inputs → optional augmentation → ``backbone(x, training=False)`` → Dropout → Dense softmax
    (named ``"classifier"``).

    ``training=False`` is the first Keras rule of fine-tuning: keep the backbone's
    BatchNormalization layers in inference mode (using the ImageNet statistics they were
    trained with) while ``fit`` trains the model, even after you unfreeze blocks; re-estimating
    those statistics on small batches of a new data set wrecks the pretrained features in the
    first steps. Keras 3.15 lets ``fit``'s ``training=True`` override a nested model's
    ``training=False`` (keras-team/keras#23364), so this function also sets the backbone's BN
    layers to ``trainable=False``, which keeps them in inference mode in any Keras version
    (``ftlab.freeze`` keeps them that way; see its module docstring).

    Args:
        backbone: a model mapping RGB 0..255 images to a feature vector
            (``ftlab.models.backbones.build_backbone``).
        num_classes: number of classes (≥ 2).
        dropout_rate: dropout before the Dense layer (0 disables it).
        augmentation: None, a Keras layer (e.g. a ``keras.Sequential`` of ``RandomFlip`` …) or a
            list of layers; active during training only.
        name: model name (default ``"<backbone name>_classifier"``).

    Returns:
        keras.Model from images (the backbone's input size) to class probabilities.

    Example:
        >>> backbone = ftlab.models.backbones.build_backbone(image_size=160)  # doctest: +SKIP
        >>> model = build_classifier(backbone, num_classes=5)  # doctest: +SKIP
        >>> ftlab.freeze.freeze_all(model)  # phase 1: only the new head trains  # doctest: +SKIP
    """
    import keras

    num_classes = _check_num_classes(num_classes)
    if len(backbone.output_shape) != 2:
        raise ModelError(
            f"backbone {backbone.name!r} outputs {backbone.output_shape}, not a feature vector: "
            "build it with pooling='avg'"
        )
    inputs = keras.Input(shape=backbone.input_shape[1:], name="image")
    x = inputs
    if augmentation is not None:
        if isinstance(augmentation, list | tuple):
            augmentation = keras.Sequential(list(augmentation), name="augmentation")
        x = augmentation(x)
    x = backbone(x, training=False)
    from ftlab.freeze import set_batchnorm_frozen

    set_batchnorm_frozen(backbone, True)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=CLASSIFIER_LAYER)(x)
    return keras.Model(inputs, outputs, name=name or f"{backbone.name}_classifier")


def build_head(feature_dim: int, num_classes: int, dropout_rate: float = 0.2, name: str = "head"):
    """A classifier head for cached feature vectors: Dropout → Dense softmax ``"classifier"``.

    Its Dense layer has the same weight shapes as the one :func:`build_classifier` makes, so a
    head trained on cached features moves into the full model with :func:`transfer_head_weights`.

    Example:
        >>> head = build_head(1280, num_classes=3)  # doctest: +SKIP
        >>> head.fit(features_train, y_train, validation_data=(features_val, y_val))  # doctest: +SKIP
    """
    import keras

    num_classes = _check_num_classes(num_classes)
    inputs = keras.Input(shape=(int(feature_dim),), name="features")
    x = keras.layers.Dropout(dropout_rate, name="dropout")(inputs) if dropout_rate else inputs
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=CLASSIFIER_LAYER)(x)
    return keras.Model(inputs, outputs, name=name)


def transfer_head_weights(head, classifier) -> None:
    """Copy the trained ``"classifier"`` Dense weights from ``head`` into ``classifier``.

    Raises:
        ModelError: either model lacks a ``"classifier"`` layer, or the shapes differ
            (different feature size or number of classes).

    Example:
        >>> transfer_head_weights(head, model)  # model now predicts what head predicted  # doctest: +SKIP
    """
    source, target = _classifier_layer(head), _classifier_layer(classifier)
    source_shapes = [tuple(w.shape) for w in source.weights]
    target_shapes = [tuple(w.shape) for w in target.weights]
    if source_shapes != target_shapes:
        raise ModelError(
            f"head {head.name!r} has classifier weights {source_shapes} but {classifier.name!r} "
            f"has {target_shapes}: build both for the same backbone and number of classes"
        )
    target.set_weights(source.get_weights())


def _classifier_layer(model):
    try:
        return model.get_layer(CLASSIFIER_LAYER)
    except ValueError:
        raise ModelError(
            f"model {model.name!r} has no {CLASSIFIER_LAYER!r} layer: build it with "
            "ftlab.models.heads.build_head / build_classifier"
        ) from None
