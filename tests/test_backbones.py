import time

import numpy as np
import pytest

from ftlab.errors import ModelError, OfflineError
from ftlab.models import backbones, lite0

REQUIRED = {
    "efficientnet_lite0",
    "mobilenet_v2",
    "efficientnet_b0",
    "resnet50",
    "efficientnet_v2_b0",
    "convnext_tiny",
}


def test_registry_lists_the_bundled_backbone_first():
    names = backbones.list_backbones()
    assert names[0] == "efficientnet_lite0" and REQUIRED <= set(names)
    assert backbones.backbone_info("efficientnet_lite0") == {
        "image_size": 224,
        "feature_dim": 1280,
        "bundled": True,
        "preprocessing": "lite0",
        "description": backbones.backbone_info("efficientnet_lite0")["description"],
    }
    assert [n for n in names if backbones.backbone_info(n)["bundled"]] == ["efficientnet_lite0"]
    assert backbones.backbone_info("inception_v3")["image_size"] == 299


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ModelError) as error:
        backbones.build_backbone("resnet5O")
    assert "'resnet5O'" in str(error.value) and "efficientnet_lite0, mobilenet_v2" in str(error.value)
    with pytest.raises(ModelError):
        backbones.backbone_info("vgg99")


def test_offline_download_is_refused_at_once_with_one_line(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OfflineError) as error:
        backbones.build_backbone("resnet50")
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("backbone 'resnet50' needs to download ImageNet weights, and ftlab is offline")
    assert "'efficientnet_lite0'" in message and "FTLAB_OFFLINE=0" in message


def test_bundled_backbone_has_imagenet_weights_at_any_size():
    model = backbones.build_backbone(image_size=96)
    assert model.name == "efficientnet_lite0" and model.output_shape == (None, 1280)
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0], lite0.imagenet_weight_arrays()["stem_conv/kernel"]
    )
    feature_map = backbones.build_backbone(image_size=96, pooling=None, weights=None)
    assert feature_map.output_shape == (None, 3, 3, 1280)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0"])
def test_keras_applications_build_without_network_when_weights_none(name):
    info = backbones.backbone_info(name)
    model = backbones.build_backbone(name, image_size=64, weights=None)
    assert model.name == name and model.output_shape == (None, info["feature_dim"])
    out = model(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
    assert np.isfinite(np.asarray(out)).all()


# Building all eleven keras.applications architectures without weights takes ~11 s: CI runs them all.
@pytest.mark.parametrize("name", [n for n in backbones.list_backbones() if n != "efficientnet_lite0"])
def test_every_feature_dim_is_right(name):
    info = backbones.backbone_info(name)
    model = backbones.build_backbone(name, image_size=96, weights=None)
    assert model.output_shape == (None, info["feature_dim"])


@pytest.mark.parametrize(
    "mode, module", [("tf", "mobilenet_v2"), ("torch", "densenet"), ("caffe", "resnet50")]
)
def test_preprocessing_layers_match_keras_preprocess_input(mode, module):
    import keras

    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    x = images
    for layer in backbones._preprocessing_layers(mode):
        x = np.asarray(layer(x))
    expected = getattr(keras.applications, module).preprocess_input(images.copy())
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-4)


def test_caffe_preprocessing_survives_save_and_load(tmp_path):
    import keras

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, backbones._preprocessing_layers("caffe")[0](inputs))
    path = tmp_path / "caffe.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(model(x)))


def test_too_small_input_is_a_model_error():
    with pytest.raises(ModelError, match="inception_v3"):
        backbones.build_backbone("inception_v3", image_size=32, weights=None)


def test_bad_options_are_model_errors():
    with pytest.raises(ModelError, match="weights="):
        backbones.build_backbone(weights="noisy-student")
    with pytest.raises(ModelError, match="pooling="):
        backbones.build_backbone(pooling="sum")


def test_every_registered_ftlab_class_is_listed_for_reloading():
    """register_custom_objects() can only import what CUSTOM_OBJECT_MODULES lists: keep it complete."""
    import re
    from pathlib import Path

    import ftlab

    root = Path(ftlab.__file__).parent
    found = {}
    pattern = re.compile(r'register_keras_serializable\(package="ftlab"\)\s*\n\s*class (\w+)')
    for source in root.rglob("*.py"):
        module = ".".join(source.relative_to(root.parent).with_suffix("").parts)
        for name in pattern.findall(source.read_text(encoding="utf-8")):
            found[name] = module
    assert "CaffePreprocessing" in found and len(found) >= 2
    assert found == backbones.CUSTOM_OBJECT_MODULES


def test_register_custom_objects_in_a_fresh_process():
    import subprocess
    import sys

    code = (
        "import sys, keras\n"
        "from ftlab.models import backbones\n"
        "names = backbones.register_custom_objects(['ftlab>CaffePreprocessing', 'Functional', 'ftlab>Unknown'])\n"
        "assert names == ['ftlab>CaffePreprocessing'], names\n"
        "assert keras.saving.get_registered_object('ftlab>CaffePreprocessing') is backbones._caffe_layer_class()\n"
        "assert 'ftlab.video.models' not in sys.modules and 'ftlab.text.model' not in sys.modules\n"
        "names = backbones.register_custom_objects()\n"
        "missing = [n for n in names if keras.saving.get_registered_object(n) is None]\n"
        "assert len(names) == len(backbones.CUSTOM_OBJECT_MODULES) and not missing, missing\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
