import numpy as np
import pytest

from ftlab.data import samples
from ftlab.errors import DataError


def test_sample_photos_are_real_rgb_photos():
    photos = samples.sample_photos()
    assert list(photos) == ["cat", "coffee", "cameraman", "motorcycle", "rocket", "clock", "astronaut"]
    for name, photo in photos.items():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[-1] == 3, name
        assert min(photo.shape[:2]) >= 150 and photo.std() > 10, name
    assert photos["cat"].shape == (300, 451, 3)


def test_reference_photos_stack_in_the_same_order():
    stack = samples.reference_photos(64)
    assert stack.shape == (7, 64, 64, 3) and stack.dtype == np.uint8
    coffee = samples.sample_photo("coffee")
    h, w = coffee.shape[:2]
    side = min(h, w)
    centre = coffee[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
    assert abs(float(stack[1].mean()) - float(centre.mean())) < 2, "the centre square, not the squashed photo"


def test_unknown_name_is_a_data_error():
    with pytest.raises(DataError, match="cat, coffee"):
        samples.sample_photo("dog")
    with pytest.raises(DataError):
        samples.expected_imagenet_classes("dog")


def test_lite0_recognises_the_reference_photos():
    from ftlab.models import imagenet

    names = list(samples.SAMPLES)
    tops = imagenet.predict_imagenet(samples.reference_photos(224), top=5)
    for name, top in zip(names, tops, strict=True):
        expected = set(samples.expected_imagenet_classes(name))
        if expected:
            assert expected & {d["index"] for d in top}, (name, top)
    assert tops[names.index("cat")][0]["index"] == 285
    assert tops[names.index("cameraman")][0]["index"] == 872
