"""Every private Keras attribute that ftlab relies on, pinned to the versions it was checked with.

A Keras or KerasHub upgrade that moves one of them fails here, by name, instead of somewhere deep
in a lesson. Checked with keras 3.15.1 and keras-hub 0.32.0 (requirements.txt); when one fails,
replace the use (the file is named in each test) or re-check it and update the version here.
"""

import keras
import numpy as np

CHECKED = {"keras": "3.15.1", "keras_hub": "0.32.0"}


def test_the_installed_versions_are_the_checked_ones():
    import keras_hub

    assert keras.__version__ == CHECKED["keras"], "re-check the private attributes below, then update CHECKED"
    assert keras_hub.__version__ == CHECKED["keras_hub"]


def _tiny_model():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="out")(keras.layers.ReLU()(hidden))
    return keras.Model(inputs, outputs)


def test_optimizer_variable_index_used_by_discriminative_rates():
    # ftlab/lr/discriminative.py keys each variable's multiplier by Optimizer._get_variable_index
    model = _tiny_model()
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    indices = [optimizer._get_variable_index(v) for v in model.trainable_variables]
    assert indices == list(range(len(model.trainable_variables)))


def test_a_schedule_shows_as_a_dict_in_the_public_config():
    # ftlab/lr/finder.py refuses schedules through get_config() (public), not optimizer._learning_rate
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    assert isinstance(keras.optimizers.Adam(schedule).get_config()["learning_rate"], dict)
    assert isinstance(keras.optimizers.Adam(1e-3).get_config()["learning_rate"], float)


def test_fit_starts_from_model_initial_epoch_set_in_on_train_begin():
    # ftlab/backup.py resumes by setting model._initial_epoch, as Keras' own BackupAndRestore does
    class Resume(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model._initial_epoch = 2

    seen = []
    model = _tiny_model()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.zeros((4, 3)), np.zeros(4), epochs=4, verbose=0,
              callbacks=[Resume(), keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [2, 3]


def test_functional_graph_walk_used_by_the_video_inflation():
    # ftlab/video/models.py re-runs a functional model node by node through model._nodes_by_depth
    model = _tiny_model()
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True) for node in model._nodes_by_depth[depth]]
    names = [node.operation.name for node in nodes if not node.is_input]
    assert names == ["hidden", model.layers[2].name, "out"]
    assert all(hasattr(node, "input_tensors") for node in nodes)


def test_layer_own_variables_used_by_the_network_map():
    # ftlab/widgets/plan.py counts a layer's own variables through _flatten_layers / _trainable_variables,
    # which (unlike trainable_weights) do not change when the layer is frozen
    bn = keras.layers.BatchNormalization()
    bn.build((None, 3))
    bn.trainable = False
    assert [v.name for v in bn._trainable_variables] == ["gamma", "beta"] and bn.trainable_weights == []
    model = _tiny_model()
    assert {layer.name for layer in model._flatten_layers(include_self=False)} >= {"hidden", "out"}



def test_kerashub_kv_cache_layout_matches_ftlab_generate():
    # ftlab/text/generate.py builds an empty key/value cache itself; its shape must be the one
    # KerasHub's own CausalLM._build_cache makes (GPT-2: every head; Llama 3: key/value heads only)
    import keras_hub

    from ftlab.text import generate

    gpt2 = keras_hub.models.GPT2CausalLM(backbone=keras_hub.models.GPT2Backbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16))
    llama = keras_hub.models.Llama3CausalLM(backbone=keras_hub.models.Llama3Backbone(
        vocabulary_size=50, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32))
    token_ids = np.zeros((3, 5), dtype="int32")
    for lm in (gpt2, llama):
        _, cache = lm._build_cache(token_ids)
        assert tuple(generate._empty_cache(lm, 3, 5).shape) == tuple(cache.shape), lm.backbone.name
