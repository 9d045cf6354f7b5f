"""ftlab.video.models: inflation keeps a 2-D network's answer on still clips; splitting, heads, layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from ftlab.errors import ModelError
from ftlab.video import models


def tiny_cnn(size: int = 20, seed: int = 0):
    """A small functional stand-in with every layer kind EfficientNet-Lite0 uses, plus ZeroPadding."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 128, offset=-1, name="preprocess")(inputs)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="stem_pad")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_activation")(x)
    skip = x
    x = layers.Conv2D(16, 1, padding="same", use_bias=False, name="block01_expand_conv")(x)
    x = layers.ReLU(6.0, name="block01_expand_activation")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block01_dwconv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name="block01_dwconv_bn")(x)
    x = layers.Conv2D(8, 1, padding="same", name="block01_project_conv")(x)
    x = layers.Add(name="block01_add")([x, skip])
    x = layers.DepthwiseConv2D(5, strides=2, padding="same", use_bias=True, name="block02_dwconv")(x)
    x = layers.Conv2D(12, 3, padding="same", activation="relu", name="block02_project_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name="head_bn")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, x, name="tiny")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial BatchNorm statistics, so a wrong conversion shows
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    return model


def still_clip(frame, num_frames):
    return np.repeat(frame[:, None], num_frames, axis=1)


@pytest.mark.parametrize("time_kernel, pointwise", [(3, 1), (5, 3), (1, 1)])
def test_inflated_tiny_cnn_matches_2d_on_identical_frames(time_kernel, pointwise):
    model = tiny_cnn()
    frame = np.random.default_rng(1).uniform(0, 255, (2, 20, 20, 3)).astype("float32")
    expected = model.predict(frame, verbose=0)
    inflated = models.inflate(model, num_frames=6, time_kernel=time_kernel, pointwise_time_kernel=pointwise)
    got = inflated.predict(still_clip(frame, 6), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    dw = inflated.get_layer("block01_dwconv")
    assert isinstance(dw, models.DepthwiseConv3D) and dw.kernel.shape == (time_kernel, 3, 3, 16, 1)
    stem = inflated.get_layer("stem_conv")
    assert isinstance(stem, layers.Conv3D) and stem.kernel.shape == (time_kernel, 3, 3, 3, 8)
    assert inflated.get_layer("block01_expand_conv").kernel.shape[0] == pointwise
    np.testing.assert_allclose(np.asarray(stem.kernel).sum(axis=0), np.asarray(model.get_layer("stem_conv").kernel),
                               rtol=1e-5, atol=1e-6)


def test_inflated_network_sees_motion():
    """Same frames, other order: a 2-D model averaged over frames cannot tell; the 3-D one can."""
    model = tiny_cnn()
    inflated = models.inflate(model, num_frames=6)
    for layer in inflated.layers:  # give the temporal taps an order (what fine-tuning does)
        if isinstance(layer, models.DepthwiseConv3D):
            kernel, *rest = layer.get_weights()
            layer.set_weights([kernel * np.array([2.0, 1.0, 0.0])[:, None, None, None, None], *rest])
    clip = np.random.default_rng(2).uniform(0, 255, (1, 6, 20, 20, 3)).astype("float32")
    forward, backward = inflated.predict(clip, verbose=0), inflated.predict(clip[:, ::-1], verbose=0)
    assert np.abs(forward - backward).max() > 1e-3


def test_depthwise_conv3d_equals_a_grouped_conv3d():
    x = np.random.default_rng(0).normal(size=(2, 5, 9, 9, 4)).astype("float32")
    for stride in (1, 2):
        layer = models.DepthwiseConv3D((3, 3, 3), strides=stride)
        y = np.asarray(layer(x))
        padded = np.concatenate([x[:, :1], x, x[:, -1:]], axis=1)  # edge padding in time
        before, after = models._same_pads(9, 3, stride)
        padded = np.pad(padded, ((0, 0), (0, 0), (before, after), (before, after), (0, 0)))
        reference = layers.Conv3D(4, 3, strides=(1, stride, stride), padding="valid", groups=4, use_bias=False)
        reference.build(padded.shape)
        reference.set_weights([np.asarray(layer.kernel).reshape(3, 3, 3, 1, 4)])
        np.testing.assert_allclose(y, np.asarray(reference(padded)), atol=1e-5)


def test_split_backbone_parts_compose_and_cut_between_blocks():
    model = tiny_cnn()
    lower, upper = models.split_backbone(model, "block02")
    x = np.random.default_rng(3).uniform(0, 255, (3, 20, 20, 3)).astype("float32")
    np.testing.assert_allclose(upper.predict(lower.predict(x, verbose=0), verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)
    assert lower.output.shape[1:] == (10, 10, 8)
    with pytest.raises(ModelError, match="skip connection"):
        models.split_backbone(model, "block01_dwconv")
    with pytest.raises(ModelError, match="no layer named block09"):
        models.split_backbone(model, "block09")


def test_unsupported_layer_is_named():
    inputs = keras.Input((8, 8, 3))
    x = layers.MaxPooling2D(name="odd_pool")(inputs)
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ModelError, match="odd_pool.*MaxPooling2D"):
        models.inflate(model, 4)


def test_inflate_rejects_even_time_kernels():
    with pytest.raises(ValueError, match="odd"):
        models.inflate(tiny_cnn(), 4, time_kernel=2)


def test_real_lite0_inflated_whole_and_from_a_block_matches_2d():
    from ftlab.models.backbones import build_backbone

    backbone = build_backbone("efficientnet_lite0", image_size=64)
    frame = np.random.default_rng(4).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    expected = backbone.predict(frame, verbose=0)
    clip = still_clip(frame, 4)
    for at in (None, "block16"):
        inflated = models.inflate_backbone(backbone, num_frames=4, at=at)
        got = inflated.predict(clip, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-3)
    assert isinstance(inflated.get_layer("fold_time"), models.FoldTime)


def test_grid_pooling_keeps_where_things_are():
    maps = np.zeros((1, 4, 4, 2), "float32")
    maps[0, :2, 2:, 0] = 1.0  # top-right quadrant, channel 0
    pooled = np.asarray(models.GridAveragePooling2D(2)(maps))
    assert pooled.shape == (1, 8)
    np.testing.assert_allclose(pooled[0], [0, 0, 1, 0, 0, 0, 0, 0])  # cells: TL, TR, BL, BR
    clips = np.stack([maps, maps[:, :, ::-1]], axis=1)  # (1, 2, 4, 4, 2): second frame mirrored
    per_frame = np.asarray(models.GridAveragePooling2D(2)(clips))
    assert per_frame.shape == (1, 2, 8) and per_frame[0, 1, 0] == 1.0
    np.testing.assert_allclose(np.asarray(models.GridAveragePooling2D(1)(maps)), maps.mean(axis=(1, 2)))


def test_frame_differences_and_fold_time():
    x = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    np.testing.assert_allclose(np.asarray(models.FrameDifferences()(x)), np.full((2, 3, 3), 3.0))
    clips = np.random.default_rng(0).normal(size=(2, 3, 5, 5, 1)).astype("float32")
    folded = models.FoldTime()(clips)
    assert folded.shape == (6, 5, 5, 1)
    np.testing.assert_allclose(np.asarray(models.UnfoldTime(3)(folded)), clips)


@pytest.mark.parametrize("kind", models.TEMPORAL_HEADS)
def test_temporal_heads_build_and_run(kind):
    head = models.build_temporal_head(8, 32, 5, kind=kind)
    frames = 1 if kind == "single" else 8
    out = head(np.zeros((3, frames, 32), "float32"))
    assert out.shape == (3, 5)
    names = [layer.name for layer in head.layers]
    assert ("frame_differences" in names) == (kind in ("conv", "gru", "attention"))


def test_order_blind_heads_cannot_tell_a_clip_from_its_reverse():
    x = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    mean = models.build_temporal_head(8, 16, 3, kind="mean")
    np.testing.assert_allclose(np.asarray(mean(x)), np.asarray(mean(x[:, ::-1])), atol=1e-5)
    conv = models.build_temporal_head(8, 16, 3, kind="conv")
    assert np.abs(np.asarray(conv(x)) - np.asarray(conv(x[:, ::-1]))).max() > 1e-4


def test_inflated_classifier_on_maps_and_keras_file_round_trip(tmp_path):
    lower, upper = models.split_backbone(tiny_cnn(), "block02")
    for readout in ("temporal", "pool"):
        clf = models.build_inflated_classifier(upper, 5, 4, readout=readout)
        maps = np.random.default_rng(0).normal(size=(2, 5, 10, 10, 8)).astype("float32")
        logits = clf.predict(maps, verbose=0)
        assert logits.shape == (2, 4)
    path = tmp_path / "inflated.keras"
    clf.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(maps, verbose=0), logits, atol=1e-5)
    bn = [layer for layer in clf.layers if isinstance(layer, layers.BatchNormalization)]
    assert bn and not any(layer.trainable for layer in bn), "inflated BatchNorm stays in inference mode"
