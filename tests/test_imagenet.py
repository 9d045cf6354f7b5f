import numpy as np
import pytest

from ftlab.errors import DataError, ModelError
from ftlab.models import imagenet


def test_class_names_are_the_imagenet_1k_list():
    names = imagenet.imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[285] == "Egyptian cat" and names[967] == "espresso"
    assert not any("_" in n for n in names)
    assert names[134] == names[517] == "crane"  # ImageNet's own duplicate


def test_decode_top_k_orders_and_names():
    probs = np.full((2, 1000), 1e-4)
    probs[0, [285, 281, 7]] = [0.5, 0.3, 0.2]
    probs[1, 967] = 0.9
    tops = imagenet.decode_top_k(probs, top=3)
    assert [d["index"] for d in tops[0]] == [285, 281, 7]
    assert tops[0][1] == {"index": 281, "name": "tabby", "probability": pytest.approx(0.3)}
    assert tops[1][0]["name"] == "espresso" and len(tops[1]) == 3
    assert len(imagenet.decode_top_k(probs[0], top=2)) == 1  # one row → one list
    with pytest.raises(ModelError, match="1000"):
        imagenet.decode_top_k(np.ones((2, 10)))


@pytest.fixture(scope="module")
def photos():
    import skimage.data

    return {"cat": skimage.data.chelsea(), "coffee": skimage.data.coffee()}


def test_predict_from_arrays_paths_and_batches(photos, tmp_path):
    from PIL import Image

    path = tmp_path / "cat.jpg"
    Image.fromarray(photos["cat"]).save(path, quality=95)
    tops = imagenet.predict_imagenet([path, photos["coffee"]], top=3)
    assert tops[0][0]["index"] == 285 and {d["index"] for d in tops[0]} == {285, 281, 282}
    assert tops[1][0]["index"] == 967 and tops[1][0]["probability"] > 0.8
    single = imagenet.predict_imagenet(photos["coffee"], top=1)
    assert len(single) == 1 and single[0][0]["probability"] == pytest.approx(tops[1][0]["probability"], abs=1e-5)
    same_size = np.stack([photos["cat"][:300, :300], photos["coffee"][:300, :300]])
    assert len(imagenet.predict_imagenet(same_size, top=1)) == 2
    grey = photos["cat"].mean(-1).astype(np.uint8)
    assert imagenet.predict_imagenet(grey, top=5)[0][0]["index"] in {285, 281, 282, 287}


def test_model_is_built_once_per_size():
    assert imagenet.imagenet_model() is imagenet.imagenet_model(224)


def test_a_given_model_sets_the_image_size():
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(x))
    tops = imagenet.predict_imagenet(np.zeros((50, 70, 3), np.uint8), top=2, model=model)
    assert len(tops[0]) == 2
    small = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    with pytest.raises(ModelError, match="not ImageNet"):
        imagenet.predict_imagenet(np.zeros((32, 32, 3), np.uint8), model=small)


def test_bad_inputs_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="0..255"):
        imagenet.resize_images(np.full((40, 40, 3), 0.5, np.float32))
    with pytest.raises(DataError, match="shape"):
        imagenet.resize_images(np.zeros((40, 40, 5), np.uint8))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all" * 10)
    with pytest.raises(DataError, match="broken.jpg"):
        imagenet.resize_images([broken])
    with pytest.raises(DataError, match="no images"):
        imagenet.resize_images([])
