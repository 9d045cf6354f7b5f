import numpy as np
import pytest

from ftlab.data import offline_images
from ftlab.errors import DataError


def test_shapes_labels_and_names():
    data = offline_images.photo_patches(classes=4, train_per_class=3, val_per_class=5, image_size=48)
    assert data.x_train.shape == (12, 48, 48, 3) and data.x_train.dtype == np.uint8
    assert data.x_val.shape == (20, 48, 48, 3)
    assert data.class_names == ["cat", "coffee", "astronaut", "motorcycle"]
    assert np.bincount(data.y_train).tolist() == [3, 3, 3, 3]
    assert np.bincount(data.y_val).tolist() == [5] * 4
    assert data.source.startswith("offline: photo patches, 4 classes")


def test_deterministic_per_seed_and_different_across_seeds():
    a = offline_images.photo_patches(classes=["grass", "gravel"], train_per_class=3, val_per_class=3,
                                     image_size=40, cache=False)
    b = offline_images.photo_patches(classes=["grass", "gravel"], train_per_class=3, val_per_class=3,
                                     image_size=40, cache=False)
    c = offline_images.photo_patches(classes=["grass", "gravel"], train_per_class=3, val_per_class=3,
                                     image_size=40, seed=1, cache=False)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_train, c.x_train)


def test_no_crop_is_repeated_and_crops_vary():
    data = offline_images.photo_patches(classes=3, train_per_class=6, val_per_class=6, image_size=40)
    everything = np.concatenate([data.x_train, data.x_val]).reshape(36, -1)
    assert len({row.tobytes() for row in everything}) == 36
    # within a class, crops differ a lot (different parts, scales, colours), not by a pixel or two
    same_class = data.x_train[data.y_train == 0].astype(float)
    assert np.abs(same_class[0] - same_class[1]).mean() > 10


def test_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    first = offline_images.photo_patches(classes=2, train_per_class=2, val_per_class=2, image_size=32)
    files = list((tmp_path / "offline_images").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    assert not any(name.name.endswith(".tmp") for name in files)
    # a reused cache returns the very same arrays without regenerating them
    monkeypatch.setattr(offline_images, "_generate", lambda *a, **k: pytest.fail("regenerated"))
    second = offline_images.photo_patches(classes=2, train_per_class=2, val_per_class=2, image_size=32)
    assert np.array_equal(first.x_val, second.x_val)


def test_damaged_cache_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    offline_images.photo_patches(classes=2, train_per_class=2, val_per_class=2, image_size=32)
    path = next((tmp_path / "offline_images").iterdir())
    path.write_bytes(b"not a zip")
    data = offline_images.photo_patches(classes=2, train_per_class=2, val_per_class=2, image_size=32)
    assert data.x_train.shape == (4, 32, 32, 3)


@pytest.mark.parametrize("kwargs, words", [
    ({"classes": ["cat", "unicorn"]}, "unknown class"),
    ({"classes": 1}, "classes=1"),
    ({"classes": ["cat", "cat"]}, "two distinct"),
    ({"image_size": 16}, "image_size=16"),
    ({"train_per_class": 0}, "at least 1"),
])
def test_bad_arguments_say_what_to_do(kwargs, words):
    with pytest.raises(DataError, match=words):
        offline_images.photo_patches(**kwargs)


def test_source_photos_are_rgb_uint8():
    for name in ("cat", "brick", "motorcycle"):
        photo = offline_images.source_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
    assert set(offline_images.list_classes()) == set(offline_images.DEFAULT_CLASSES)


def _nearest_centroid_accuracy(train, y_train, val, y_val):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    val = val / np.linalg.norm(val, axis=1, keepdims=True)
    centroids = np.stack([train[y_train == c].mean(0) for c in np.unique(y_train)])
    return float(np.mean((val @ centroids.T).argmax(1) == y_val))


def test_pretrained_features_separate_the_classes_much_better_than_pixels():
    """The data set's purpose: ImageNet features carry what pixels alone do not."""
    from ftlab import features
    from ftlab.models import backbones

    data = offline_images.photo_patches(train_per_class=6, val_per_class=8, image_size=96)
    backbone = backbones.build_backbone(image_size=96)
    f_train = features.extract_features(backbone, data.x_train, cache=False)
    f_val = features.extract_features(backbone, data.x_val, cache=False)
    pretrained = _nearest_centroid_accuracy(f_train, data.y_train, f_val, data.y_val)
    pixels = _nearest_centroid_accuracy(data.x_train.reshape(len(data.x_train), -1).astype(float), data.y_train,
                                        data.x_val.reshape(len(data.x_val), -1).astype(float), data.y_val)
    assert pretrained > 0.75
    assert pretrained > pixels + 0.3
