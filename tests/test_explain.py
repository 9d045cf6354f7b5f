"""ftlab.explain: Grad-CAM against a map worked out by hand, on flat and nested models."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from ftlab import explain
from ftlab.errors import ModelError

# A 4x4 "image" whose two channels are the feature map itself (the layer "features" passes the
# input through). Channel 0 is bright in the top-left quadrant, channel 1 in the bottom-right.
A = np.zeros((1, 4, 4, 3), dtype="float32")
A[0, :2, :2, 0] = 2.0
A[0, 2:, 2:, 1] = 1.0
A[0, :, :, 2] = 0.5
W = np.array([[1.0, -1.0], [-2.0, 3.0], [0.0, 0.0]], dtype="float32")  # (channels, classes)
B = np.array([0.1, -0.1], dtype="float32")


def hand_cam(c):
    # score_c = sum_k W[k, c] * mean_ij A_k + b_c  =>  d score / d A_k[i, j] = W[k, c] / 16
    alpha = W[:, c] / 16.0
    cam = np.maximum((A[0] * alpha).sum(axis=-1), 0.0)
    return cam / cam.max()


def _flat_model():
    import keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Activation("linear", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="classifier")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("classifier").set_weights([W, B])
    return model


def _nested_model():
    import keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Activation("linear", name="features")(inputs)
    backbone = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="backbone")
    outer_in = keras.Input((4, 4, 3))
    y = backbone(outer_in, training=False)
    y = keras.layers.Dropout(0.5)(y)
    outputs = keras.layers.Dense(2, activation="softmax", name="classifier")(y)
    model = keras.Model(outer_in, outputs)
    model.get_layer("classifier").set_weights([W, B])
    return model


@pytest.mark.parametrize("build", [_flat_model, _nested_model], ids=["flat", "nested"])
def test_grad_cam_matches_hand_computed_map(build):
    model = build()
    for c in (0, 1):
        result = explain.grad_cam(model, A, class_index=c, layer_name="features")
        assert result.maps.shape == (1, 4, 4)
        assert result.maps[0] == pytest.approx(hand_cam(c), abs=1e-5)
        assert result.class_index.tolist() == [c]
    # class 0 looks at the top-left quadrant, class 1 at the bottom-right
    assert explain.grad_cam(model, A, class_index=0, layer_name="features").maps[0, :2, :2].min() == pytest.approx(1.0)
    assert explain.grad_cam(model, A, class_index=1, layer_name="features").maps[0, :2, :2].max() == 0.0


def test_default_class_is_the_prediction_and_probabilities_match_the_model():
    model = _nested_model()
    result = explain.grad_cam(model, A, layer_name="features")
    probs = np.asarray(model(A, training=False))
    assert result.probabilities == pytest.approx(probs, abs=1e-6)
    assert result.class_index[0] == probs.argmax()


def test_heatmaps_are_upsampled_and_normalised():
    model = _flat_model()
    result = explain.grad_cam(model, np.repeat(A, 3, axis=0), class_index=[0, 1, 0], layer_name="features")
    assert result.heatmaps.shape == (3, 4, 4)
    assert result.heatmaps.max() <= 1.0 + 1e-6 and result.heatmaps.min() >= 0.0
    up = explain.upsample(result.maps, (16, 16))
    assert up.shape == (3, 16, 16)
    assert up[0, 0, 0] == pytest.approx(1.0, abs=1e-5) and up[0, -1, -1] == pytest.approx(0.0, abs=1e-5)


def test_unknown_layer_is_named_in_the_error():
    with pytest.raises(ModelError, match="no layer 'nope'"):
        explain.grad_cam(_flat_model(), A, layer_name="nope")


def test_grad_cam_on_efficientnet_lite0_classifier():
    from ftlab.models import heads, lite0

    backbone = lite0.build_efficientnet_lite0(image_size=64, include_top=False, weights=None, pooling="avg")
    model = heads.build_classifier(backbone, num_classes=3)
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3)).astype("uint8")
    result = explain.grad_cam(model, images)
    assert result.layer_name == "head_activation"
    assert result.maps.shape == (2, 2, 2)  # 64 px / 32
    assert result.heatmaps.shape == (2, 64, 64)
    assert result.probabilities.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    mid = explain.grad_cam(model, images, layer_name="block11_add")  # stride 16: a finer map
    assert mid.maps.shape == (2, 4, 4)


def test_overlay_blends_and_resizes():
    image = np.full((8, 8, 3), 100, dtype=np.uint8)
    out = explain.overlay(image, np.zeros((2, 2)), alpha=0.5)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    # jet(0) is dark blue (0, 0, 0.5): red and green halve, blue moves toward 127
    assert out[0, 0, 0] == 50 and out[0, 0, 2] == pytest.approx(113, abs=1)
    with pytest.raises(ValueError, match="height, width, 3"):
        explain.overlay(np.zeros((8, 8)), np.zeros((8, 8)))


def test_show_grad_cam_draws_image_and_overlay_rows():
    model = _flat_model()
    result = explain.grad_cam(model, np.repeat(A, 2, axis=0), layer_name="features")
    fig = explain.show_grad_cam(np.repeat(A, 2, axis=0).astype("uint8"), result, titles=["a", "b"], columns=2)
    assert len(fig.axes) == 4
