import re
import warnings

import numpy as np
import pytest

from ftlab import freeze
from ftlab.errors import ModelError
from ftlab.models import backbones, heads

LITE0_BLOCKS = ["stem", *[f"block{i:02d}" for i in range(1, 17)], "head"]


def _lite0(image_size=64):
    return backbones.build_backbone(image_size=image_size, weights=None)


def _classifier(num_classes=3):
    return heads.build_classifier(_lite0(), num_classes)


def _weighted(layers):
    return [layer for layer in layers if layer.weights]


def _is_bn(layer):
    return type(layer).__name__ == "BatchNormalization"


def _covers_every_layer_once(model, groups):
    grouped = [id(layer) for layers in groups.values() for layer in layers]
    assert len(grouped) == len(set(grouped))
    backbone = freeze.find_backbone(model)
    expected = {id(layer) for layer in backbone.layers if type(layer).__name__ != "InputLayer"}
    if backbone is not model:
        expected |= {id(layer) for layer in model.layers
                     if layer is not backbone and type(layer).__name__ != "InputLayer"}
    assert set(grouped) == expected
    # each group is one contiguous run of layers, in input→output order
    order = [id(layer) for layer in backbone.layers if type(layer).__name__ != "InputLayer"]
    position = {key: i for i, key in enumerate(order)}
    runs = [[position[id(layer)] for layer in layers] for name, layers in groups.items() if name != "classifier"]
    flat = [index for run in runs for index in run]
    assert flat == sorted(flat) == list(range(len(order)))


def test_lite0_blocks_and_stages():
    model = _classifier()
    blocks = freeze.block_groups(model)
    assert list(blocks) == [*LITE0_BLOCKS, "classifier"]
    _covers_every_layer_once(model, blocks)
    assert blocks["stem"][0].name == "preprocess"
    assert {layer.name for layer in blocks["classifier"]} == {"dropout", "classifier"}
    assert all(layer.name.startswith("block07_") for layer in blocks["block07"])
    stages = freeze.stage_groups(model)
    assert list(stages) == ["stem", *[f"stage{i}" for i in range(1, 8)], "head", "classifier"]
    # stage sizes follow the EfficientNet-B0 table: 1, 2, 2, 3, 3, 4, 1 blocks
    counts = [len({layer.name[:7] for layer in stages[f"stage{i}"]}) for i in range(1, 8)]
    assert counts == [1, 2, 2, 3, 3, 4, 1]
    assert freeze.find_backbone(model).name == "efficientnet_lite0"


def test_unfreeze_top_changes_exactly_the_top_groups():
    model = _classifier()
    assert freeze.unfreeze_top(model, 3).groups == ("block15", "block16", "head")
    groups = freeze.block_groups(model)
    trainable_ids = {id(w) for w in model.trainable_weights}
    for name, layers in groups.items():
        for layer in _weighted(layers):
            trains = any(id(w) in trainable_ids for w in layer.weights)
            should = name in ("block15", "block16", "head", "classifier") and not _is_bn(layer)
            assert trains == should, (name, layer.name)
    assert freeze.unfreeze_top(model, 1).groups == ("head",)
    assert {layer.name for layer in model.layers[-1:]} == {"classifier"}
    trainable_layers = {w.path.split("/")[-2] for w in model.trainable_weights}
    assert trainable_layers == {"head_conv", "classifier"}
    assert freeze.unfreeze_top(model, 0).groups == ()
    assert freeze.count_params(model)[0] == 1280 * 3 + 3
    assert len(freeze.unfreeze_top(model, 99).groups) == len(LITE0_BLOCKS)
    with pytest.raises(ModelError, match="k=-1"):
        freeze.unfreeze_top(model, -1)


def test_batchnorm_frozen_unless_asked():
    model = _classifier()
    freeze.unfreeze_top(model, 2, keep_batchnorm_frozen=False)
    bn = model.get_layer("efficientnet_lite0").get_layer("block16_project_bn")
    assert bn.trainable and any(w is bn.gamma for w in model.trainable_weights)
    changed = freeze.set_batchnorm_frozen(model, True)
    assert changed == 4  # block16: expand, dwconv, project BN; head_bn; nothing else was trainable
    assert not bn.trainable
    assert freeze.set_batchnorm_frozen(model, False) == 4
    assert freeze.block_groups(model)["block15"][2].trainable is False  # frozen groups stay frozen


def test_classifier_starts_with_batchnorm_frozen():
    backbone = _lite0()
    heads.build_classifier(backbone, 2)
    bns = [layer for layer in backbone.layers if _is_bn(layer)]
    assert len(bns) == 49 and not any(layer.trainable for layer in bns)


def test_summary_adds_up_and_matches_keras():
    model = _classifier(num_classes=4)
    freeze.unfreeze_top(model, 3)
    rows = freeze.trainable_summary(model)
    assert [r["group"] for r in rows] == [*LITE0_BLOCKS, "classifier"]
    assert sum(r["total"] for r in rows) == model.count_params()
    trainable, frozen = freeze.count_params(model)
    assert sum(r["trainable"] for r in rows) == trainable and trainable + frozen == model.count_params()
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    text = "\n".join(lines)
    keras_trainable = int(re.search(r"Trainable params: ([\d,]+)", text)[1].replace(",", ""))
    keras_frozen = int(re.search(r"Non-trainable params: ([\d,]+)", text)[1].replace(",", ""))
    assert (trainable, frozen) == (keras_trainable, keras_frozen)
    assert rows[-1] == {"group": "classifier", "trainable": 1280 * 4 + 4, "frozen": 0, "total": 1280 * 4 + 4}
    stage_rows = freeze.trainable_summary(model, by="stage")
    assert sum(r["total"] for r in stage_rows) == model.count_params()
    table = freeze.format_summary(rows)
    assert "stem … block14" in table and "block15" in table and "total" in table.splitlines()[-1]
    assert len(freeze.format_summary(rows, collapse=False).splitlines()) == len(rows) + 3


def test_freeze_helpers_never_compile_and_compiling_again_makes_the_change_count():
    import keras

    model = _classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)  # eager: no slow graph tracing
    first_optimizer = model.optimizer
    summary = freeze.unfreeze_top(model, 2)  # head + block16
    assert model.optimizer is first_optimizer  # flags only: nothing recompiled behind your back
    assert summary.groups == ("block16", "head")
    assert summary.trainable == freeze.count_params(model)[0] and summary.total == model.count_params()
    assert "Compile again before fit" in str(summary) and f"{summary.trainable:,}" in repr(summary)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", run_eagerly=True)
    backbone = model.get_layer("efficientnet_lite0")
    watched = {name: [w.copy() for w in backbone.get_layer(name).get_weights()]
               for name in ("block01_dwconv", "block15_project_conv", "block16_project_conv", "block16_project_bn")}
    head_before = model.get_layer("classifier").get_weights()[0].copy()
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    after = {name: backbone.get_layer(name).get_weights() for name in watched}
    for name in ("block01_dwconv", "block15_project_conv", "block16_project_bn"):  # frozen, BN stats too
        for old, new in zip(watched[name], after[name], strict=True):
            np.testing.assert_array_equal(old, new, err_msg=name)
    assert not np.array_equal(watched["block16_project_conv"][0], after["block16_project_conv"][0])
    assert not np.array_equal(head_before, model.get_layer("classifier").get_weights()[0])

    freeze.freeze_all(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", run_eagerly=True)
    frozen_block = backbone.get_layer("block16_project_conv").get_weights()[0].copy()
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(frozen_block, backbone.get_layer("block16_project_conv").get_weights()[0])


def test_fit_after_a_change_without_compile_warns_once_per_model():
    import keras

    freeze.watch_compiles()
    freeze.watch_compiles()  # a second call changes nothing (no double wrapping)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.array([0, 1] * 4)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0)  # nothing changed: no warning
    model.get_layer("a").trainable = False
    assert freeze.stale_compile(model) == (0, 2)
    with pytest.warns(UserWarning, match=r"0 variables became trainable and 2 were frozen.*compile"):
        model.fit(x, y, epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0)  # once per model, not every fit
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
        assert freeze.stale_compile(model) is None
        model.fit(x, y, epochs=1, verbose=0)
    model.get_layer("a").trainable = True  # the other way round: weights the optimizer has never seen
    with pytest.warns(UserWarning, match="2 variables became trainable"), pytest.raises(ValueError, match="Unknown"):
        model.fit(x, y, epochs=1, verbose=0)  # eager fit then fails in Keras 3.15; a traced one skips them


def test_unfreeze_by_name_after_freezing_the_container():
    backbone = _lite0()
    backbone.trainable = False  # what a learner (or ftlab.train) may do first
    model = heads.build_classifier(backbone, 3)
    freeze.unfreeze(model, ["stage7", "head"])
    names = {w.path.split("/")[-2] for w in model.trainable_weights}
    assert names == {"block16_expand_conv", "block16_dwconv", "block16_project_conv", "head_conv", "classifier"}
    freeze.freeze(model, "stage7")
    assert {w.path.split("/")[-2] for w in model.trainable_weights} == {"head_conv", "classifier"}
    with pytest.raises(ModelError) as error:
        freeze.unfreeze(model, ["block17"])
    assert "block16" in str(error.value) and "stage7" in str(error.value)


def test_bare_backbone_freezes_entirely():
    backbone = _lite0()
    freeze.freeze_all(backbone)
    assert freeze.count_params(backbone)[0] == 0
    assert "classifier" not in freeze.block_groups(backbone)


@pytest.mark.parametrize("name, first_blocks, last, stages", [
    ("mobilenet_v2", ["stem", "block_0", "block_1"], "head", ["stem", "stage1", "stage2"]),
    ("resnet50", ["stem", "conv2_block1", "conv2_block2"], "conv5_block3", ["stem", "conv2", "conv3", "conv4", "conv5"]),
    # squeeze-and-excitation pools inside blocks must not start the head
    ("mobilenet_v3_small", ["stem", "block_0", "block_1"], "head", ["stem", "block_0"]),
])
def test_keras_applications_groups(name, first_blocks, last, stages):
    backbone = backbones.build_backbone(name, image_size=64, weights=None)
    groups = freeze.block_groups(backbone)
    assert list(groups)[:3] == first_blocks and list(groups)[-1] == last
    _covers_every_layer_once(backbone, groups)
    # preprocessing belongs to the stem (Keras numbers repeated layer names: rescaling, rescaling_1, ...)
    assert groups["stem"][0].name.startswith(("preprocess", "rescaling"))
    assert list(freeze.stage_groups(backbone))[:len(stages)] == stages
    if name == "mobilenet_v2":
        assert len(groups) == 19 and len(freeze.stage_groups(backbone)) == 9
    assert freeze.unfreeze_top(backbone, 1).groups == (last,)


def test_unknown_architecture_falls_back_to_parts():
    import keras

    inputs = keras.Input((8,))
    x = inputs
    for i in range(16):
        x = keras.layers.Dense(4, name=f"d{i}")(x)
    model = keras.Model(inputs, x)
    groups = freeze.block_groups(model)
    assert list(groups) == [f"part{i}" for i in range(1, 9)]
    assert all(len(layers) == 2 for layers in groups.values())
    freeze.unfreeze_top(model, 2)
    assert freeze.count_params(model)[0] == 4 * (4 * 4 + 4)
