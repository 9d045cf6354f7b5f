import numpy as np

from ftlab import features


def _tiny_model():
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs, name="tiny")


def test_features_are_cached_and_reused(monkeypatch):
    model = _tiny_model()
    images = np.random.default_rng(0).integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    first = features.extract_features(model, images, batch_size=4)
    assert first.shape == (10, 4) and first.dtype == np.float32
    calls = []
    monkeypatch.setattr(model, "predict", lambda *a, **k: calls.append(1))
    second = features.extract_features(model, images, batch_size=4)
    assert not calls and np.array_equal(first, second)


def test_cache_key_changes_with_weights_and_data():
    model = _tiny_model()
    images = np.zeros((3, 16, 16, 3), np.uint8)
    before = features.weights_fingerprint(model)
    kernel = model.get_layer("conv").kernel
    kernel.assign(kernel.numpy() + 1.0)
    assert features.weights_fingerprint(model) != before
    assert features.data_fingerprint(images) != features.data_fingerprint(images + 1)


def test_fine_tuned_backbone_does_not_reuse_stale_features():
    model = _tiny_model()
    images = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    first = features.extract_features(model, images)
    kernel = model.get_layer("conv").kernel
    kernel.assign(kernel.numpy() * 2.0)
    second = features.extract_features(model, images)
    assert not np.allclose(first, second)


def test_corrupt_cache_file_is_recomputed(tmp_path):
    from ftlab import settings

    model = _tiny_model()
    images = np.ones((2, 16, 16, 3), np.uint8)
    first = features.extract_features(model, images)
    for path in settings.cache_dir("features").glob("*.npy"):
        path.write_bytes(b"not numpy")
    again = features.extract_features(model, images)
    assert np.allclose(first, again)
    assert not list(settings.cache_dir("features").glob("*.tmp"))
