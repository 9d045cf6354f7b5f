import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ftlab import freeze, widgets  # noqa: E402

STAGES = ["stem", *[f"stage{i}" for i in range(1, 8)], "head"]


def _size(variable):
    return int(np.prod(variable.shape))


@pytest.fixture()
def model():
    from ftlab.models import backbones, heads

    classifier = heads.build_classifier(backbones.build_backbone(image_size=32), 4)
    freeze.freeze_all(classifier)
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    return classifier


def _layers_by_group(model):
    groups = freeze.stage_groups(model)
    groups.pop(freeze.CLASSIFIER_GROUP)
    return groups


def _readout_number(text):
    assert text.startswith(widgets.READOUT_PREFIX)
    return int(text[len(widgets.READOUT_PREFIX):].split(" of ")[0].replace(",", ""))


def test_panel_controls_have_stable_labels(model):
    panel = widgets.FreezePanel(model, n_train=100, n_val=50)
    assert panel.top_k.description == "unfreeze top k" and panel.top_k.max == len(STAGES)
    assert panel.batchnorm.description == "BatchNorm stays frozen" and panel.batchnorm.value
    assert list(panel.checkboxes) == STAGES
    assert panel.checkboxes["stage6"].description.startswith("stage6 (")
    assert panel.readout.value.startswith("trainable parameters:")
    assert panel.apply_button.description == "Apply"


@pytest.mark.parametrize("k", [1, 3, 9])
def test_slider_then_apply_trains_exactly_the_top_k_stages(model, k):
    panel = widgets.FreezePanel(model)
    panel.top_k.value = k
    expected = STAGES[len(STAGES) - k:]
    assert panel.selected == expected
    assert [n for n, box in panel.checkboxes.items() if box.value] == expected
    untouched = freeze.count_params(model)[0]
    panel.apply()
    for name, layers in _layers_by_group(model).items():
        for layer in layers:
            if not layer.weights:
                continue
            if name in expected and not widgets._is_batchnorm(layer):
                assert layer.trainable_weights, f"{layer.name} in {name} should train"
            else:
                assert not layer.trainable_weights, f"{layer.name} in {name} should be frozen"
    assert widgets.trainable_groups(model) == expected
    assert widgets.batchnorm_frozen(model)
    assert freeze.count_params(model)[0] > untouched


def test_readout_matches_count_params_arithmetic(model):
    panel = widgets.FreezePanel(model)
    for k in (0, 2, 5, 9):
        panel.top_k.value = k
        announced = _readout_number(panel.readout.value)
        panel.apply()
        trainable = sum(_size(w) for w in model.trainable_weights)
        frozen = sum(_size(w) for w in model.non_trainable_weights)
        assert announced == trainable == freeze.count_params(model)[0]
        assert trainable + frozen == model.count_params()
        assert f"of {model.count_params():,}" in panel.readout.value


def test_readout_is_live_before_apply(model):
    panel = widgets.FreezePanel(model)
    frozen_count = _readout_number(panel.readout.value)
    panel.top_k.value = 2
    two = _readout_number(panel.readout.value)
    assert two > frozen_count
    assert freeze.count_params(model)[0] == frozen_count  # the model itself is unchanged until Apply
    assert "not applied" in panel.status.value


def test_batchnorm_switch(model):
    panel = widgets.FreezePanel(model)
    panel.top_k.value = 2
    with_bn_frozen = _readout_number(panel.readout.value)
    panel.batchnorm.value = False
    with_bn_training = _readout_number(panel.readout.value)
    bn_in_top = sum(_size(w) for name in ("stage7", "head") for layer in _layers_by_group(model)[name]
                    if widgets._is_batchnorm(layer) for w in layer._trainable_variables)
    assert with_bn_training - with_bn_frozen == bn_in_top > 0
    panel.apply()
    assert not widgets.batchnorm_frozen(model)
    assert freeze.count_params(model)[0] == with_bn_training
    for name, layers in _layers_by_group(model).items():
        for layer in layers:
            if widgets._is_batchnorm(layer):
                assert bool(layer.trainable_weights) == (name in ("stage7", "head"))
    panel.batchnorm.value = True
    panel.apply()
    assert widgets.batchnorm_frozen(model) and freeze.count_params(model)[0] == with_bn_frozen


def test_checkboxes_pick_any_groups_and_sync_the_slider(model):
    panel = widgets.FreezePanel(model)
    panel.checkboxes["stage3"].value = True
    panel.checkboxes["head"].value = True
    assert panel.top_k.value == 0  # not a top-k pattern: the slider stays
    panel.apply()
    assert widgets.trainable_groups(model) == ["stage3", "head"]
    panel.checkboxes["stage3"].value = False
    assert panel.top_k.value == 1  # {"head"} is the top 1
    panel.checkboxes["stage7"].value = True
    assert panel.top_k.value == 2


def test_apply_sets_flags_shows_the_code_and_after_its_compile_fit_trains_exactly_the_chosen_layers(model):
    panel = widgets.FreezePanel(model)
    old_optimizer = model.optimizer
    panel.top_k.value = 1
    panel.apply_button.click()  # the button, as a learner would
    assert model.optimizer is old_optimizer and "now compile" in panel.status.value  # Apply never compiles
    code = panel.code_text()
    assert "layer.trainable" in code and code.splitlines()[-1].startswith("model.compile(")
    assert "model.compile(" in panel.code.value and "Keras code:" in panel.text()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)  # the code's last line
    before = {w.path: w.numpy().copy() for w in model.weights}
    rng = np.random.default_rng(0)
    model.fit(rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32"), rng.integers(0, 4, 4), epochs=1, verbose=0)

    def moved(path):
        return not np.array_equal(before[path], next(w for w in model.weights if w.path == path).numpy())

    assert moved("head_conv/kernel") and moved("classifier/kernel")
    assert not moved("block16_project_conv/kernel") and not moved("head_bn/gamma")


def test_estimates_grow_with_what_trains_and_are_labelled(model):
    panel = widgets.FreezePanel(model, n_train=200, n_val=100, batch_size=32)
    estimates = []
    for k in range(len(STAGES) + 1):
        panel.top_k.value = k
        estimates.append(panel.estimate())
    seconds = [e.seconds_per_epoch for e in estimates]
    memory = [e.peak_memory_gb for e in estimates]
    assert all(b >= a for a, b in zip(seconds, seconds[1:], strict=False)) and seconds[-1] > 1.5 * seconds[0]
    assert all(b >= a for a, b in zip(memory, memory[1:], strict=False)) and memory[-1] > memory[0]
    assert estimates[0].cached_seconds_per_epoch is not None and estimates[0].cached_seconds_per_epoch < seconds[0]
    assert estimates[1].cached_seconds_per_epoch is None
    panel.top_k.value = 0
    assert "estimate scaled to this model" in panel.time_readout.value and "cached features" in panel.time_readout.value
    assert "estimate fitted" in panel.memory_readout.value
    assert "s per epoch" in panel.time_readout.value and "GB peak memory" in panel.memory_readout.value


def test_calibration_measures_and_says_so(model):
    panel = widgets.FreezePanel(model, n_train=64)
    anchors = panel.calibrate(batch_size=4, steps=1)
    assert anchors["forward_ms_per_image"] > 0 and anchors["train_ms_per_image"] > 0
    assert "calibrated on this machine" in panel.time_readout.value
    assert freeze.count_params(model)[0] == _readout_number(panel.readout.value)  # model untouched


def test_text_fallback_outside_a_notebook(model):
    panel = widgets.FreezePanel(model)
    panel.top_k.value = 2
    text = str(panel)
    assert "[x] head" in text and "[x] stage7" in text and "[ ] stage6" in text
    assert "unfreeze top k: 2" in text and "trainable parameters:" in text
    bundle = panel._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]  # no kernel here: no widget view


def test_panel_works_for_a_keras_applications_backbone():
    from ftlab.models import backbones, heads

    model = heads.build_classifier(backbones.build_backbone("mobilenet_v2", image_size=32, weights=None), 3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    panel = widgets.FreezePanel(model)
    assert list(panel.checkboxes)[-1] == "head" and "stage7" in panel.checkboxes
    panel.top_k.value = 3
    announced = _readout_number(panel.readout.value)
    panel.apply()
    assert announced == freeze.count_params(model)[0]
    assert widgets.trainable_groups(model) == list(panel.checkboxes)[-3:]


def test_live_training_view_as_a_callback(capsys):
    import keras

    view = widgets.LiveTrainingView(print_lines=True, title="toy")
    assert isinstance(view, keras.callbacks.Callback)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    toy = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, activation="softmax")])
    toy.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    toy.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=[view])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and lines[0].startswith("epoch 1: loss ") and "val_accuracy" in lines[0]
    assert len(view.history["loss"]) == 3 and len(view.history["val_accuracy"]) == 3
    assert len(view.epoch_seconds) == 3 and view.median_epoch_seconds > 0
    loss_axis = view.figure.axes[0]
    assert [len(line.get_xdata()) for line in loss_axis.get_lines()] == [3, 3]
    # a second fit continues the same curves; reset starts over
    toy.fit(x, y, epochs=2, verbose=0, callbacks=[view])
    assert len(view.history["loss"]) == 5
    view.reset()
    assert view.history == {} and view.figure is None and view.epoch_seconds == []


def test_live_training_view_quiet_when_asked(capsys):
    view = widgets.LiveTrainingView(print_lines=False)
    view.on_train_begin()
    view.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out == ""
    assert view.figure is not None


def test_live_training_view_leaves_fits_validation_pass_out_of_the_epoch_time():
    import time

    view = widgets.LiveTrainingView(print_lines=False, min_interval=1e9)
    view.on_epoch_begin(0)
    view.on_test_begin()  # fit's validation_data pass runs inside the epoch
    time.sleep(0.3)
    view.on_test_end()
    view.on_epoch_end(0, {"loss": 1.0})
    assert view.epoch_seconds[0] < 0.15, view.epoch_seconds
