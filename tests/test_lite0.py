import shutil

import numpy as np
import pytest

from ftlab.errors import ModelError
from ftlab.models import lite0

# Top-5 logits of the original float32 PyTorch checkpoint for the same 224×224 PIL-bilinear
# images, from an independent plain-torch forward pass: `tools/convert_lite0.py reference`.
TORCH_REFERENCE = {
    "chelsea": [(285, 10.5183), (282, 8.3276), (281, 8.1108), (287, 6.1914), (728, 4.089)],
    "coffee": [(967, 10.7296), (968, 7.3596), (504, 6.5032), (925, 6.4473), (809, 5.2073)],
}


def _photo(name, size=224):
    import skimage.data
    from PIL import Image

    image = Image.fromarray(getattr(skimage.data, name)())
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype="float32")


@pytest.fixture(scope="module")
def logits_model():
    return lite0.build_efficientnet_lite0(classifier_activation=None)


@pytest.fixture(scope="module")
def logits(logits_model):
    images = np.stack([_photo("chelsea"), _photo("coffee")])
    return dict(zip(["chelsea", "coffee"], logits_model.predict(images, verbose=0), strict=True))


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_architecture_matches_the_checkpoint(logits_model):
    names = [layer.name for layer in logits_model.layers]
    assert names[1] == "preprocess"
    assert sum(w.numpy().size for w in logits_model.trainable_weights) == 4_652_008
    blocks = sorted({n.split("_")[0] for n in names if n.startswith("block")})
    assert blocks == [f"block{i:02d}" for i in range(1, 17)]
    # residual adds: every block after the first of its stage, except stage 1 (32 → 16)
    adds = [n for n in names if n.endswith("_add")]
    assert len(adds) == 9 and "block01_add" not in adds and "block03_add" in adds
    assert "block01_expand_conv" not in names and "block02_expand_conv" in names
    assert [lite0.BLOCK_STAGE[f"block{i:02d}"] for i in (1, 2, 3, 4, 6, 16)] == [1, 2, 2, 3, 4, 7]
    assert not any("se_" in n or "squeeze" in n for n in names)
    bn = logits_model.get_layer("block05_dwconv_bn")
    assert bn.epsilon == pytest.approx(1e-3)
    assert logits_model.get_layer("stem_conv").padding == "same"


def test_logits_match_the_float32_torch_checkpoint(logits):
    for name, reference in TORCH_REFERENCE.items():
        top5 = np.argsort(-logits[name])[:5].tolist()
        assert top5 == [index for index, _ in reference], name
        for index, value in reference:
            # float16 storage moves logits by at most ~0.024
            assert logits[name][index] == pytest.approx(value, abs=0.03), (name, index)


def test_imagenet_probabilities_on_real_photos(logits):
    cat = _softmax(logits["chelsea"])
    assert np.argsort(-cat)[:3].tolist()[0] == 285  # Egyptian cat
    assert set(np.argsort(-cat)[:3].tolist()) == {285, 281, 282}
    assert cat[285] == pytest.approx(0.80, abs=0.05)
    coffee = _softmax(logits["coffee"])
    assert int(coffee.argmax()) == 967  # espresso
    assert coffee[967] == pytest.approx(0.88, abs=0.05)


def test_headless_model_at_another_size_loads_the_same_weights():
    model = lite0.build_efficientnet_lite0(image_size=160, include_top=False, pooling=None)
    assert model.output_shape == (None, 5, 5, 1280)
    assert model.layers[-1].name == lite0.last_conv_layer_name(model) == "head_activation"
    arrays = lite0.imagenet_weight_arrays()
    np.testing.assert_array_equal(model.get_layer("head_conv").get_weights()[0], arrays["head_conv/kernel"])
    features = model.predict(_photo("chelsea", 160)[None], verbose=0)
    assert np.isfinite(features).all() and features.min() >= 0 and features.max() <= 6  # ReLU6


def test_pooling_choices_and_variable_size():
    pooled = lite0.build_efficientnet_lite0(image_size=None, include_top=False, weights=None, pooling="avg")
    assert pooled.output_shape == (None, 1280)
    assert pooled.predict(np.zeros((1, 64, 96, 3), "float32"), verbose=0).shape == (1, 1280)


def test_bad_arguments_raise_model_error():
    with pytest.raises(ModelError, match="weights="):
        lite0.build_efficientnet_lite0(weights="imagenet21k")
    with pytest.raises(ModelError, match="pooling="):
        lite0.build_efficientnet_lite0(include_top=False, pooling="mean")


def test_damaged_weights_file_is_refused(tmp_path):
    damaged = tmp_path / "efficientnet_lite0_imagenet.npz"
    shutil.copyfile(lite0.WEIGHTS_PATH, damaged)
    with open(damaged, "r+b") as handle:
        handle.seek(4_000_000)
        byte = handle.read(1)
        handle.seek(4_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="sha256") as error:
        lite0.imagenet_weight_arrays(damaged)
    message = str(error.value)
    assert str(damaged) in message and "reinstall ftlab" in message and "\n" not in message
    with pytest.raises(ModelError, match="not found"):
        lite0.imagenet_weight_arrays(tmp_path / "missing.npz")


def test_an_intact_copy_is_accepted(tmp_path):
    copy = tmp_path / "copy.npz"
    shutil.copyfile(lite0.WEIGHTS_PATH, copy)
    arrays = lite0.imagenet_weight_arrays(copy)
    assert len(arrays) == 247 and arrays["predictions/kernel"].shape == (1280, 1000)
    assert arrays["predictions/kernel"].dtype == np.float32


def test_weights_file_and_model_match_exactly(logits_model):
    keys = {f"{layer.name}/{w.name}" for layer in logits_model.layers for w in layer.weights}
    assert keys == set(lite0.imagenet_weight_arrays())


def test_conversion_tool_names_and_layouts():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "convert_lite0.py"
    spec = importlib.util.spec_from_file_location("convert_lite0", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)  # stdlib only at import time: no torch needed here
    assert tool.keras_name("_conv_stem.weight") == "stem_conv/kernel"
    assert tool.keras_name("_blocks.0._depthwise_conv.weight") == "block01_dwconv/kernel"
    assert tool.keras_name("_blocks.15._bn0.running_var") == "block16_expand_bn/moving_variance"
    assert tool.keras_name("_bn1.bias") == "head_bn/beta"
    assert tool.keras_name("_fc.bias") == "predictions/bias"
    assert tool.keras_name("_bn0.num_batches_tracked") is None
    conv = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5)  # OIHW
    assert tool.to_keras_layout("stem_conv/kernel", conv)[4, 1, 2, 0] == conv[0, 2, 4, 1]
    depthwise = np.arange(4 * 1 * 3 * 3).reshape(4, 1, 3, 3)  # (C, 1, kh, kw)
    assert tool.to_keras_layout("block02_dwconv/kernel", depthwise).shape == (3, 3, 4, 1)
    assert tool.to_keras_layout("block02_dwconv/kernel", depthwise)[2, 0, 3, 0] == depthwise[3, 0, 2, 0]
    assert tool.to_keras_layout("predictions/kernel", np.zeros((1000, 1280))).shape == (1280, 1000)
