import numpy as np
import pytest

from ftlab.errors import ModelError
from ftlab.models import backbones, heads


@pytest.fixture(scope="module")
def backbone():
    return backbones.build_backbone(image_size=64, weights=None)


def test_classifier_runs_the_backbone_in_inference_mode(backbone):
    model = heads.build_classifier(backbone, num_classes=3, dropout_rate=0.0)
    assert model.output_shape == (None, 3) and model.input_shape == (None, 64, 64, 3)
    assert model.get_layer("classifier").units == 3 and model.name == "efficientnet_lite0_classifier"
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    # training=True would make BatchNorm use batch statistics; the backbone call pins training=False
    np.testing.assert_allclose(
        np.asarray(model(x, training=True)), np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6
    )


def test_augmentation_list_becomes_a_sequential(backbone):
    import keras

    model = heads.build_classifier(
        backbone, 2, augmentation=[keras.layers.RandomFlip("horizontal")], name="m"
    )
    assert model.get_layer("augmentation").layers[0].name.startswith("random_flip")
    assert model.name == "m"


def test_head_trained_on_features_moves_into_the_classifier(backbone):
    x = np.random.default_rng(1).uniform(0, 255, (6, 64, 64, 3)).astype("float32")
    head = heads.build_head(1280, 4)
    head.get_layer("classifier").set_weights(
        [np.random.default_rng(2).normal(0, 0.05, (1280, 4)).astype("float32"), np.arange(4, dtype="float32")]
    )
    model = heads.build_classifier(backbone, 4)
    heads.transfer_head_weights(head, model)
    features = np.asarray(backbone(x, training=False))
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(head(features)), rtol=1e-4, atol=1e-6)


def test_shape_mismatches_are_model_errors(backbone):
    with pytest.raises(ModelError, match="same backbone"):
        heads.transfer_head_weights(heads.build_head(1280, 5), heads.build_classifier(backbone, 4))
    with pytest.raises(ModelError, match="≥ 2"):
        heads.build_head(1280, 1)
    with pytest.raises(ModelError, match="no 'classifier'"):
        heads.transfer_head_weights(backbone, heads.build_classifier(backbone, 4))
    feature_map = backbones.build_backbone(image_size=64, weights=None, pooling=None)
    with pytest.raises(ModelError, match="pooling='avg'"):
        heads.build_classifier(feature_map, 3)


@pytest.fixture
def mixed_float16():
    """Keras' mixed precision policy (what ftlab.setup() turns on with a GPU), float32 again afterwards."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_heads_output_float32_under_mixed_precision(mixed_float16):
    import keras

    head = heads.build_head(32, 3, dropout_rate=0.2)
    assert head.get_layer("dropout").compute_dtype == "float16"  # the hidden layers compute in float16
    classifier = head.get_layer("classifier")
    assert classifier.dtype_policy.name == "float32" and classifier.compute_dtype == "float32"
    assert classifier.kernel.dtype == "float32"
    features = np.random.default_rng(0).normal(size=(5, 32)).astype("float32")
    probabilities = head(features)
    assert keras.backend.standardize_dtype(probabilities.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(probabilities).sum(axis=1), 1.0, rtol=1e-6)


def test_classifier_outputs_float32_under_mixed_precision(mixed_float16):
    import keras

    backbone = backbones.build_backbone(image_size=32, weights=None)  # built under the mixed policy
    model = heads.build_classifier(backbone, num_classes=3)
    assert model.output.dtype == "float32"
    assert model.get_layer("classifier").compute_dtype == "float32"
    assert model.get_layer("dropout").compute_dtype == "float16"
    convolutions = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.compute_dtype == "float16" for layer in convolutions)
    assert keras.backend.standardize_dtype(backbone.output.dtype) == "float16"  # features arrive in float16
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probabilities = model(x, training=False)
    assert keras.backend.standardize_dtype(probabilities.dtype) == "float32"
    assert np.isfinite(np.asarray(probabilities)).all()
    # the head trained on cached (float32) features still moves into the mixed-precision classifier
    heads.transfer_head_weights(heads.build_head(backbone.output_shape[-1], 3), model)


def test_policy_is_float32_again_after_the_mixed_precision_tests():
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"
    assert heads.build_head(8, 2).get_layer("dropout").compute_dtype == "float32"
