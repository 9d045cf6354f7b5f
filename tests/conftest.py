import os

import pytest

os.environ.setdefault("FTLAB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own FTLAB_CACHE so caches never leak between tests or into ~/.cache."""
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path_factory.mktemp("ftlab-cache")))


@pytest.fixture(autouse=True)
def _answers_not_required():
    """``ftlab.checks.require_answers()`` is global: a test that switches it on never leaks it."""
    yield
    from ftlab import checks

    checks.require_answers(False)


# .keras files that are valid zips but no Keras model: each must be a one-line ModelError.
NOT_KERAS_MODELS = {
    "notes.keras": {"notes.txt": "a zip, but no model"},
    "list.keras": {"config.json": "[1, 2]", "metadata.json": "{}"},
    "number.keras": {"config.json": "3", "metadata.json": "{}"},
    "unknown.keras": {
        "config.json": '{"class_name": "NoSuchLayer", "module": "nowhere", "config": {}}',
        "metadata.json": "{}",
    },
    "badmeta.keras": {"ftlab.json": "[]", "config.json": "{}"},
}


def write_not_keras_models(folder):
    """Write :data:`NOT_KERAS_MODELS` into ``folder``; returns their paths."""
    import zipfile

    paths = []
    for name, entries in NOT_KERAS_MODELS.items():
        with zipfile.ZipFile(folder / name, "w") as archive:
            for entry, text in entries.items():
                archive.writestr(entry, text)
        paths.append(folder / name)
    return paths


def write_photo_folder(root, per_class=8, size=128, seed=0):
    """Write a small folder of real-looking photos: random crops of scikit-image's cat and coffee photos."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = {"cat": data.chelsea(), "coffee": data.coffee()}
    for name, photo in sources.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        h, w = photo.shape[:2]
        for i in range(per_class):
            crop = int(min(h, w) * rng.uniform(0.7, 1.0))
            top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            image = Image.fromarray(photo[top:top + crop, left:left + crop]).resize((size, size))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image.save(folder / f"{name}_{i:03d}.jpg", quality=90)
    return root


@pytest.fixture
def photo_folder(tmp_path):
    return write_photo_folder(tmp_path / "photos")
