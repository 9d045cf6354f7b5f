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
            patch = resize(photo[top:top + crop, left:left + crop], (size, size), anti_aliasing=True)
            xs.append((patch * 255).astype(np.uint8))
            ys.append(label)
    x, y = np.stack(xs), np.array(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_finetune_two_phases_never_worse_than_head(tmp_path):
    x, y = _photos()
    result = train.finetune(x[:8], y[:8], x[8:], y[8:], ["cat", "coffee"], image_size=64, head_epochs=20,
                            finetune_epochs=1, unfreeze=1, batch_size=4, checkpoint_dir=tmp_path / "ckpt")
    assert result.kept in ("head", "finetuned")
    assert result.metrics["accuracy"] >= result.head_metrics["accuracy"]
    assert result.head_metrics["accuracy"] >= 0.75, result.head_metrics
    assert set(result.history) == {"head", "finetune"}
    probs = result.model.predict(x[8:].astype("float32"), verbose=0)
    assert probs.shape == (len(x) - 8, 2)
    summary = result.summary()
    assert {"accuracy", "balanced_accuracy", "per_class_recall", "head_accuracy", "seconds"} <= set(summary)


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
    args = dict(image_size=64, head_epochs=2, finetune_epochs=3, unfreeze=1, batch_size=4,
                checkpoint_dir=tmp_path / "backup", patience=10)
    with pytest.raises(KeyboardInterrupt):
        train.finetune(x[:6], y[:6], x[6:], y[6:], ["cat", "coffee"], progress=Interrupt(), **args)
    assert any((tmp_path / "backup").iterdir()), "a backup must survive the interruption"
    result = train.finetune(x[:6], y[:6], x[6:], y[6:], ["cat", "coffee"], **args)
    assert len(result.history["finetune"]["loss"]) == 2, "resumed at epoch 2 of 3, not from scratch"
    assert not (tmp_path / "backup").exists() or not any((tmp_path / "backup").iterdir())
