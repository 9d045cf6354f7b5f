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
