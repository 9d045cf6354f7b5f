"""The network map's model state, headless: clicks and the slider change traits, counts equal Keras."""

import keras
import numpy as np
import pytest

from ftlab import freeze, widgets
from ftlab.errors import ModelError


def _keras_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.fixture(scope="module")
def classifier():
    from ftlab.models import backbones, heads

    model = heads.build_classifier(backbones.build_backbone(image_size=32), 4)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    return model


def test_lite0_map_blocks_stages_and_clicks(classifier):
    freeze.freeze_all(classifier)
    network_map = widgets.NetworkMap(classifier, variable="classifier")
    assert [s["name"] for s in network_map.stages][:2] == ["stem", "stage1"] and network_map.unit_count == 9
    assert len([b for b in network_map.blocks if b["name"].startswith("block")]) == 16
    network_map.select_top(2)
    assert network_map.selected == ["block16", "head"] and network_map.top_k == 2
    network_map.toggle("stage3")
    assert network_map.selected == ["block04", "block05", "block16", "head"] and network_map.top_k == 2
    network_map.toggle("block04")
    assert network_map.selected == ["block05", "block16", "head"]


@pytest.mark.parametrize("choice", ["none", "top2", "stage3+head", "all"])
@pytest.mark.parametrize("bn_frozen", [True, False])
def test_readout_apply_and_code_agree_with_keras(classifier, choice, bn_frozen):
    network_map = widgets.NetworkMap(classifier, variable="classifier")
    network_map.batchnorm_frozen = bn_frozen
    network_map.select_top({"none": 0, "top2": 2, "all": 9}.get(choice, 0))
    if choice == "stage3+head":
        network_map.toggle("stage3")
        network_map.toggle("head")
    announced = network_map.trainable_count
    assert network_map.readout["lines"][0].startswith(f"trainable parameters: {announced:,} of")
    network_map.apply()
    applied = sorted(v.path for v in classifier.trainable_weights)
    assert _keras_count(classifier) == announced
    assert "classifier.compile(" in network_map.code
    freeze.freeze_all(classifier)
    exec(network_map.code.replace("classifier.compile(", "dict("), {"classifier": classifier, "keras": keras})
    assert sorted(v.path for v in classifier.trainable_weights) == applied


def test_apply_never_compiles(classifier):
    network_map = widgets.NetworkMap(classifier, variable="classifier")
    optimizer = classifier.optimizer
    network_map.select_top(1)
    network_map.apply()
    assert classifier.optimizer is optimizer and "compile again" in network_map.status


def test_status_says_when_the_map_differs_from_the_model(classifier):
    network_map = widgets.NetworkMap(classifier, variable="classifier")
    network_map.select_top(1)
    network_map.apply()
    applied = freeze.count_params(classifier)[0]
    network_map.select_top(3)
    assert network_map.status.startswith(f"changed since Apply: the model still trains {applied:,} parameters")
    network_map.select_top(1)  # back to what the model has
    assert network_map.status.startswith(f"applied: {applied:,} trainable parameters")


def test_language_model_lora_and_full_per_layer():
    from ftlab.text import model as text_model

    lm = text_model.load_tiny_lm()
    network_map = widgets.NetworkMap(lm, variable="lm")
    assert network_map.kind == "lm" and network_map.method == "lora" and network_map.unit_count == 4
    network_map.select_top(2)
    assert network_map.selected == ["transformer_layer_2", "transformer_layer_3"]
    network_map.apply()
    assert _keras_count(lm) == network_map.trainable_count > 0
    assert all("lora_kernel" in v.path for v in lm.trainable_weights)
    network_map.toggle("transformer_layer_0")
    network_map.apply()
    assert _keras_count(lm) == network_map.trainable_count
    network_map.method = "full"
    with pytest.raises(ModelError, match="fresh copy"):
        network_map.apply()
    fresh = text_model.load_tiny_lm()
    full_map = widgets.NetworkMap(fresh, variable="lm", method="full")
    full_map.select_top(1)
    full_map.apply()
    assert _keras_count(fresh) == full_map.trainable_count
    assert {v.path.split("/")[0] for v in fresh.trainable_weights} == {"transformer_layer_3"}


def test_any_keras_hub_backbone_with_transformer_layers():
    import keras_hub

    backbone = keras_hub.models.Llama3Backbone(vocabulary_size=100, num_layers=3, num_query_heads=4,
                                               num_key_value_heads=2, hidden_dim=32, intermediate_dim=64,
                                               tie_word_embeddings=True)
    network_map = widgets.NetworkMap(backbone, variable="backbone")
    network_map.select_top(2)
    network_map.apply()
    assert _keras_count(backbone) == network_map.trainable_count > 0
    assert "enable_lora(rank=4)" not in network_map.code  # already enabled: the code says so


def test_callback_lights_the_map_and_records_the_curves(classifier):
    network_map = widgets.NetworkMap(classifier, variable="classifier")
    network_map.select_top(1)
    network_map.apply()
    classifier.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []
    network_map.observe(lambda change: seen.append(change["new"]), names="training")
    images, labels = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32"), np.array([0, 1, 2, 3])
    classifier.fit(images, labels, validation_data=(images, labels), epochs=2, batch_size=4, verbose=0,
                   callbacks=[network_map.callback()])
    assert seen == [True, False]  # lit while fit runs, dark after
    assert sorted(network_map.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 2 for values in network_map.history.values())
    assert network_map.epoch_text.startswith("epoch 2: ")
