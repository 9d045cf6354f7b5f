import json
import zipfile

import numpy as np
import pytest

from ftlab import train
from ftlab.errors import DataError, ModelError


def test_balanced_class_weight_equalises_classes():
    weights = train.balanced_class_weight([0] * 8 + [1] * 2, 2)
    assert weights[0] * 8 == pytest.approx(weights[1] * 2)
    assert train.resolve_class_weight(None, [0, 1], 2) is None
    with pytest.raises(ValueError):
        train.resolve_class_weight("heavy", [0, 1], 2)


def _photos(n_per_class=6, size=64):
    from skimage import data
    from skimage.transform import resize

    rng = np.random.default_rng(0)
    xs, ys = [], []
    for label, photo in enumerate([data.chelsea(), data.coffee()]):
        for _ in range(n_per_class):
            h, w = photo.shape[:2]
            crop = int(min(h, w) * rng.uniform(0.6, 1.0))
            top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            patch = resize(photo[top : top + crop, left : left + crop], (size, size), anti_aliasing=True)
            xs.append((patch * 255).astype(np.uint8))
            ys.append(label)
    x, y = np.stack(xs), np.array(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_finetune_two_phases_never_worse_than_head(tmp_path):
    x, y = _photos()
    result = train.finetune(
        x[:8],
        y[:8],
        x[8:],
        y[8:],
        ["cat", "coffee"],
        image_size=64,
        head_epochs=20,
        finetune_epochs=1,
        unfreeze=1,
        batch_size=4,
        checkpoint_dir=tmp_path / "ckpt",
    )
    assert result.kept in ("head", "finetuned") and result.kept_reason
    inner = result.selection
    assert inner["n_fit"] + inner["n_select"] == 8 and inner["head_C"] in train.HEAD_C_GRID
    beats = inner["finetuned"]["score"] > inner["head"]["score"]
    assert beats == (result.kept == "finetuned"), "phase 2 is kept exactly when it beats the head on the inner split"
    assert result.head_metrics["accuracy"] >= 0.75, result.head_metrics
    assert set(result.history) == {"head", "finetune"}
    probs = result.model.predict(x[8:].astype("float32"), verbose=0)
    assert probs.shape == (len(x) - 8, 2)
    summary = result.summary()
    assert {"accuracy", "balanced_accuracy", "per_class_recall", "head_accuracy", "seconds", "kept_reason",
            "selection"} <= set(summary)
    json.dumps(summary)


def test_finetune_rejects_single_class():
    x, y = _photos(2)
    with pytest.raises(DataError, match="two classes"):
        train.finetune(x, y * 0, x, y * 0, ["cat"], image_size=64)


def test_save_and_load_round_trip_keeps_metadata(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    path = train.save_model(model, tmp_path / "m.keras", {"class_names": ["a", "b"], "image_size": 8})
    assert "ftlab.json" in zipfile.ZipFile(path).namelist()
    loaded, config = train.load_model(path)
    assert config == {"class_names": ["a", "b"], "image_size": 8}
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert json.loads(zipfile.ZipFile(path).read("ftlab.json"))["image_size"] == 8
    assert not list(tmp_path.glob("*.tmp*"))


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        train.load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ModelError, match="bad.keras: cannot read"):
        train.load_model(bad)


def test_interrupted_finetune_resumes_from_its_backup(tmp_path):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if self.params.get("epochs") == 3 and epoch == 1:
                raise KeyboardInterrupt("simulated Ctrl-C in epoch 2 of fine-tuning")

    x, y = _photos(4)
    args = dict(
        image_size=64,
        head_epochs=2,
        finetune_epochs=3,
        unfreeze=1,
        batch_size=4,
        checkpoint_dir=tmp_path / "backup",
        patience=10,
    )
    with pytest.raises(KeyboardInterrupt):
        train.finetune(x[:6], y[:6], x[6:], y[6:], ["cat", "coffee"], progress=Interrupt(), **args)
    assert any((tmp_path / "backup").iterdir()), "a backup must survive the interruption"
    result = train.finetune(x[:6], y[:6], x[6:], y[6:], ["cat", "coffee"], **args)
    assert len(result.history["finetune"]["loss"]) == 2, "resumed at epoch 2 of 3, not from scratch"
    assert result.selection["finetuned"]["epochs"] == 2
    assert not (tmp_path / "backup").exists() or not any((tmp_path / "backup").iterdir())


def _stratified(y, n_val_per_class=2):
    val = np.concatenate([np.flatnonzero(y == c)[:n_val_per_class] for c in np.unique(y)])
    return np.setdiff1d(np.arange(len(y)), val), val


def test_rejected_finetuning_restores_the_head_phase_weights():
    """A diverging phase 2 (absurd learning rate) must be rejected and its weights really undone."""
    import keras

    from ftlab.models import backbones

    keras.utils.set_random_seed(0)  # with 4 validation images, an unseeded diverged model can tie the head
    x, y = _photos()
    tr, va = _stratified(y)  # 2 + 2 validation images: a collapsed model scores 0.5 at best
    base = backbones.build_backbone("efficientnet_lite0", image_size=64)
    before = [w.copy() for w in base.get_weights()]

    class Snapshot(keras.callbacks.Callback):
        phases = []

        def on_train_end(self, logs=None):
            Snapshot.phases.append([w.copy() for w in base.get_weights()])

    result = train.finetune(
        x[tr],
        y[tr],
        x[va],
        y[va],
        ["cat", "coffee"],
        backbone=base,
        image_size=64,
        head_epochs=20,
        finetune_epochs=1,
        unfreeze=1,
        batch_size=4,
        augment=False,
        finetune_learning_rate=1e4,
        progress=Snapshot(),
    )
    assert result.head_metrics["accuracy"] > 0.5, result.head_metrics
    assert result.kept == "head" and result.summary()["kept"] == "head"
    assert "did not beat the head" in result.kept_reason
    assert result.selection["finetuned"]["score"] <= result.selection["head"]["score"]
    assert result.metrics == result.head_metrics

    # Phase 2 did move the backbone (so restoring is real work) ...
    assert len(Snapshot.phases) == 1, "the callback sees phase 2 only (the head is solved, not fitted)"
    assert not all(np.array_equal(a, b) for a, b in zip(before, Snapshot.phases[0], strict=True))
    # ... and the returned model has the head-phase backbone back, bit for bit.
    for a, b in zip(before, base.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Independent check: the returned model's own predictions score the head-phase accuracy.
    probs = result.model.predict(x[va].astype("float32"), verbose=0)
    accuracy = float(np.mean(probs.argmax(axis=1) == y[va]))
    assert accuracy == pytest.approx(result.head_metrics["accuracy"])


def test_balanced_class_weight_reaches_both_phases_on_an_imbalanced_folder(photo_folder, monkeypatch):
    import keras

    from ftlab.data import images

    for path in sorted((photo_folder / "coffee").iterdir())[3:]:
        path.unlink()  # 8 cat photos, 3 coffee photos
    data = images.load_image_folder(photo_folder, image_size=64, val_split=0.34, seed=0, verbose=False)
    assert data.class_counts("train")["cat"] > 2 * data.class_counts("train")["coffee"]

    seen = []
    real_fit = keras.Model.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(kwargs.get("class_weight"))
        return real_fit(self, *args, **kwargs)

    head_weights = []
    real_head = train.fit_softmax_head

    def recording_head(features, labels, num_classes, C=1.0, sample_weight=None, **kwargs):
        head_weights.append(dict(zip(np.asarray(labels).tolist(), np.asarray(sample_weight).tolist(), strict=True)))
        return real_head(features, labels, num_classes, C, sample_weight, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    monkeypatch.setattr(train, "fit_softmax_head", recording_head)
    result = train.finetune(
        data.x_train,
        data.y_train,
        data.x_val,
        data.y_val,
        data.class_names,
        image_size=64,
        head_epochs=5,
        finetune_epochs=1,
        unfreeze=1,
        batch_size=4,
        class_weight="balanced",
    )
    expected = train.balanced_class_weight(data.y_train, 2)
    assert expected[1] > expected[0] > 0
    assert seen == [expected], "the fine-tuning phase gets the balanced weights"
    assert len(head_weights) == len(train.HEAD_C_GRID) + 1, "one head per C on the inner split, then the refit"
    assert all(w == expected for w in head_weights), "every head fit weights images by the balanced class weights"
    assert set(result.history) == {"head", "finetune"} and result.kept in ("head", "finetuned")
    assert {"accuracy", "balanced_accuracy", "per_class_recall"} <= set(result.metrics)
    assert set(result.metrics["per_class_recall"]) == {"cat", "coffee"}
    assert result.config["class_weight"] == "balanced"


def test_model_with_ftlab_layers_loads_in_a_fresh_process(tmp_path):
    """ftlab.train.load_model registers ftlab's custom layers itself (here ResNet-50's CaffePreprocessing)."""
    import subprocess
    import sys

    import keras

    from ftlab.models import backbones

    inputs = keras.Input((16, 16, 3))
    x = backbones._preprocessing_layers("caffe")[0](inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    path = train.save_model(model, tmp_path / "caffe.keras", {"class_names": ["a", "b"], "image_size": 16})
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "expected.npy", model.predict(images, verbose=0))
    code = (
        "import sys, numpy as np, keras\n"
        "from ftlab import train\n"
        "assert keras.saving.get_registered_object('ftlab>CaffePreprocessing') is None, 'not a fresh process'\n"
        "model, config = train.load_model(sys.argv[1])\n"
        "assert config == {'class_names': ['a', 'b'], 'image_size': 16}, config\n"
        "np.testing.assert_allclose(model.predict(np.load(sys.argv[2]), verbose=0), np.load(sys.argv[3]), "
        "rtol=1e-5, atol=1e-6)\n"
        "print('loaded', model.get_layer(index=1).__class__.__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "images.npy"), str(tmp_path / "expected.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "loaded CaffePreprocessing" in proc.stdout


def test_load_model_errors_for_zips_that_are_not_keras_models(tmp_path):
    from conftest import write_not_keras_models

    for path in write_not_keras_models(tmp_path):
        with pytest.raises(ModelError) as error:
            train.load_model(path)
        message = str(error.value)
        assert message.startswith(f"{path}: cannot read this model file (") and "\n" not in message
        assert "ftlab finetune --out" in message


def test_validation_labels_change_no_training_decision():
    """--val is only measured: shuffled validation labels give the same C, phase, epochs and weights."""
    import keras

    from ftlab.models import backbones

    x, y = _photos(5, size=32)
    tr, va = _stratified(y)
    shuffled = y[va][::-1].copy()
    assert not np.array_equal(shuffled, y[va])
    base = backbones.build_backbone("efficientnet_lite0", image_size=32)
    pretrained = [w.copy() for w in base.get_weights()]
    runs = []
    for y_val in (y[va], shuffled):
        base.set_weights(pretrained)
        keras.utils.set_random_seed(0)
        runs.append(train.finetune(x[tr], y[tr], x[va], y_val, ["cat", "coffee"], backbone=base, image_size=32,
                                   finetune_epochs=1, unfreeze=1, batch_size=4, augment=False))
    honest, fooled = runs
    assert fooled.selection == honest.selection and fooled.kept == honest.kept
    assert fooled.kept_reason == honest.kept_reason and fooled.history == honest.history
    for a, b in zip(honest.model.get_weights(), fooled.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fooled.head_metrics["accuracy"] != honest.head_metrics["accuracy"], "the validation set is still measured"


def test_selection_split_keeps_groups_whole_and_classes_stratified():
    labels = np.array([0] * 10 + [1] * 10)
    fit, select = train.selection_split(labels, seed=1)
    assert len(select) == 4 and np.bincount(labels[select]).tolist() == [2, 2]
    groups = np.repeat(np.arange(10), 2)
    fit, select = train.selection_split(labels, groups, seed=1)
    assert not set(groups[fit]) & set(groups[select]) and set(labels[select]) == {0, 1}


def test_softmax_head_matches_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 5)) + np.repeat(np.eye(3, 5) * 2, 20, axis=0)
    labels = np.repeat(np.arange(3), 20)
    kernel, bias = train.fit_softmax_head(features, labels, 3, C=0.5)
    reference = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(features, labels)
    ours = train._softmax_probs(features, kernel, bias)
    np.testing.assert_allclose(ours, reference.predict_proba(features), atol=2e-3)


def test_balanced_class_weight_is_sklearns_and_gives_an_absent_class_zero():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 7 + [2] * 3 + [3] * 5)
    weights = train.balanced_class_weight(labels, 4)
    expected = compute_class_weight("balanced", classes=np.array([0, 2, 3]), y=labels)
    assert [weights[c] for c in (0, 2, 3)] == pytest.approx(expected.tolist())
    assert weights[1] == 0.0 and sorted(weights) == [0, 1, 2, 3]
