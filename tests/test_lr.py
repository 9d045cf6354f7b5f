import numpy as np
import pytest

from ftlab import freeze, lr
from ftlab.errors import ModelError


def test_smooth_losses_is_bias_corrected():
    smoothed = lr.smooth_losses([2.0, 2.0, 2.0, 0.0], beta=0.5)
    assert smoothed[:3].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert 0.0 < smoothed[3] < 2.0


def test_suggestion_on_a_known_curve():
    lrs = np.logspace(-6, 0, 61)
    # flat, then falling fastest around 1e-3, lowest near 3e-2, then exploding
    loss = 2 - np.tanh(1.5 * (np.log10(lrs) + 3)) + np.where(lrs > 3e-2, 30 * (lrs - 3e-2), 0)
    suggestion, lowest, (low, high) = lr.suggest_learning_rate(lrs, loss)
    assert 5e-4 < suggestion < 2e-3
    assert 1e-2 < lowest < 1e-1
    assert low < suggestion < high <= lowest


def test_suggestion_when_the_loss_never_falls():
    lrs = np.logspace(-6, 0, 30)
    suggestion, lowest, (low, high) = lr.suggest_learning_rate(lrs, np.linspace(1, 3, 30))
    assert low == high == suggestion and suggestion < lowest


def _toy_problem(seed=0):
    import keras

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 4))).argmax(1)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True)
    return model, x, y


def test_finder_restores_the_model_and_finds_a_sensible_range():
    import keras

    model, x, y = _toy_problem()
    model.fit(x, y, epochs=1, verbose=0)  # the optimizer now has state worth keeping
    weights = [w.numpy().copy() for w in model.weights]
    state = [v.numpy().copy() for v in model.optimizer.variables]
    result = lr.find_learning_rate(model, x, y, num_steps=60, start_lr=1e-5, end_lr=10.0)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(weights, model.weights, strict=True))
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(state, model.optimizer.variables, strict=True))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert np.all(np.diff(result.learning_rates) > 0)
    assert len(result.losses) == len(result.smoothed) <= 60
    assert result.contains(result.suggestion)
    # softmax regression with Adam learns fastest between ~1e-3 and ~1
    assert 1e-4 < result.suggestion < 1.0
    assert result.good_range[0] <= result.suggestion <= result.good_range[1] <= result.min_loss_lr
    # a rate from the range trains well; one far below it barely moves in the same steps
    def trained_loss(rate):
        fresh, _, _ = _toy_problem()
        fresh.optimizer.learning_rate = rate
        return fresh.fit(x, y, epochs=3, batch_size=32, verbose=0).history["loss"][-1]
    assert trained_loss(result.suggestion) < trained_loss(result.good_range[0] / 1000) - 0.2
    assert "good range" in str(result)


def test_finder_stops_when_the_loss_diverges():
    import keras

    model, x, y = _toy_problem()
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True)
    result = lr.find_learning_rate(model, x * 50, y, num_steps=80, start_lr=1e-4, end_lr=1e4)
    assert result.diverged and len(result.losses) < 80


def test_finder_needs_a_compiled_model_with_a_plain_rate():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ModelError, match="compile"):
        lr.find_learning_rate(model, np.zeros((8, 3)), np.zeros(8))
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy")
    with pytest.raises(ModelError, match="schedule"):
        lr.find_learning_rate(model, np.zeros((8, 3)), np.zeros(8))


@pytest.fixture()
def classifier():
    from ftlab.models import backbones, heads

    return heads.build_classifier(backbones.build_backbone(image_size=32), 3)


def test_discriminative_learning_rates_per_stage(classifier):
    rates = lr.discriminative_learning_rates(classifier, 1e-3, factor=0.5)
    assert list(rates) == ["stem", *[f"stage{i}" for i in range(1, 8)], "head", "classifier"]
    assert rates["classifier"] == rates["head"] == 1e-3
    assert rates["stage7"] == pytest.approx(5e-4)
    assert rates["stem"] == pytest.approx(1e-3 * 0.5**8)
    with pytest.raises(ValueError):
        lr.discriminative_learning_rates(classifier, 1e-3, factor=0)


def test_discriminative_optimizer_scales_each_groups_steps(classifier):
    # Adam's first step moves every weight with a non-zero gradient by ~learning_rate: so the
    # largest change per variable shows the rate its group got.
    freeze.unfreeze_top(classifier, 100)
    optimizer = lr.discriminative_optimizer(classifier, learning_rate=1e-2, factor=0.5)
    classifier.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", run_eagerly=True)  # fast test
    assert type(classifier.optimizer).__name__ == "DiscriminativeAdam"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    before = {w.path: w.numpy().copy() for w in classifier.trainable_weights}
    classifier.fit(x, y, epochs=1, batch_size=8, verbose=0)
    step = {w.path: float(np.abs(w.numpy() - before[w.path]).max()) for w in classifier.trainable_weights}
    assert step["classifier/kernel"] == pytest.approx(1e-2, rel=0.02)
    assert step["head_conv/kernel"] == pytest.approx(1e-2, rel=0.02)
    assert step["block16_project_conv/kernel"] == pytest.approx(5e-3, rel=0.02)
    assert step["stem_conv/kernel"] == pytest.approx(1e-2 * 0.5**8, rel=0.02)


def test_discriminative_optimizer_round_trips_its_config(classifier):
    import keras

    optimizer = lr.discriminative_optimizer(classifier, 1e-3, factor=0.3, optimizer="sgd", momentum=0.9)
    config = optimizer.get_config()
    copy = type(optimizer).from_config(config)
    assert isinstance(copy, keras.optimizers.SGD) and copy.momentum == 0.9
    assert copy.multipliers == optimizer.multipliers
    assert copy.multipliers["stem_conv/kernel"] == pytest.approx(0.3**8)
    with pytest.raises(ModelError, match="optimizer"):
        lr.discriminative_optimizer(classifier, optimizer="lion-of-judah")


def test_unfreezing_schedule():
    assert lr.unfreezing_schedule(["stem", "stage1", "head"]) == {1: "head", 2: "stage1", 3: "stem"}
    assert lr.unfreezing_schedule(["a", "b", "c"], epochs_per_group=2, start_epoch=0, max_groups=2) == {0: "c", 2: "b"}
    with pytest.raises(ValueError):
        lr.unfreezing_schedule(["a"], epochs_per_group=0)


def test_gradual_unfreezing_unfreezes_top_down_during_fit(classifier, capsys):
    import keras

    freeze.freeze_all(classifier)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                       run_eagerly=True)  # no tracing: fast test
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    classifier.fit(x, y, epochs=1, verbose=0)  # optimizer built over the head only
    callback = lr.GradualUnfreezing(start_epoch=1, max_groups=2)
    assert isinstance(callback, keras.callbacks.Callback)
    before = {w.path: w.numpy().copy() for w in classifier.weights}
    classifier.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[callback])

    def moved(path):
        return not np.array_equal(before[path], next(w for w in classifier.weights if w.path == path).numpy())

    assert [entry["group"] for entry in callback.log] == ["head", "stage7"]
    assert [entry["epoch"] for entry in callback.log] == [1, 2]
    assert callback.log[0]["trainable"] < callback.log[1]["trainable"]
    assert moved("classifier/kernel") and moved("head_conv/kernel") and moved("block16_project_conv/kernel")
    assert not moved("block15_project_conv/kernel")  # stage6 was never scheduled
    assert not moved("head_bn/gamma")  # BatchNorm stays frozen
    assert "epoch 3: unfroze stage7" in capsys.readouterr().out


def test_gradual_unfreezing_rejects_unknown_groups(classifier):
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    callback = lr.GradualUnfreezing(schedule={1: "stage42"})
    with pytest.raises(ModelError, match="stage42"):
        classifier.fit(np.zeros((2, 32, 32, 3)), np.zeros(2), epochs=1, verbose=0, callbacks=[callback])
