import numpy as np
import pytest

from ftlab import forgetting
from ftlab.errors import ModelError


def test_compare_predictions_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    q = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
    report = forgetting.compare_predictions(p, q, names=["cat", "cup"])
    assert report.top1_agreement == 0.5 and report.forgetting == 0.5
    assert report.changed == ["cup"]
    expected_kl = np.mean([np.sum(p[i] * np.log(p[i] / q[i])) for i in range(2)])
    assert report.kl_divergence == pytest.approx(expected_kl, rel=1e-6)
    assert report.confidence_kept == pytest.approx((0.6 / 0.7 + 0.3 / 0.6) / 2)
    assert report.top5_overlap == 1.0  # only 3 classes: the top "5" is all of them
    assert "top-1 agreement 50% (1/2 photos unchanged)" in str(report)
    assert report.as_dict()["forgetting"] == 0.5


def test_identical_predictions_mean_nothing_forgotten():
    p = np.random.default_rng(0).dirichlet(np.ones(1000), size=4)
    report = forgetting.compare_predictions(p, p)
    assert report.top1_agreement == 1.0 and report.top5_overlap == 1.0
    assert report.kl_divergence == pytest.approx(0.0, abs=1e-9) and report.changed == []


def test_compare_predictions_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        forgetting.compare_predictions(np.ones((2, 3)), np.ones((3, 3)))


def test_reference_views():
    photo = np.arange(50 * 80 * 3, dtype=np.uint8).reshape(50, 80, 3)
    views = forgetting.reference_views({"a": photo, "b": photo}, size=32, crops=2)
    assert views.shape == (8, 32, 32, 3) and views.dtype == np.uint8
    assert np.array_equal(views[1], views[0][:, ::-1]) or np.abs(views[1].astype(int) - views[0][:, ::-1]).max() <= 1
    with pytest.raises(ValueError):
        forgetting.reference_views([photo], crops=5)


@pytest.fixture(scope="module")
def lite0_parts():
    from ftlab.models import backbones, heads, lite0

    backbone = backbones.build_backbone(image_size=64)
    classifier = heads.build_classifier(backbone, 3)
    original = lite0.build_efficientnet_lite0(image_size=96)
    return backbone, classifier, original


def test_reattached_head_of_an_untouched_backbone_is_the_original_model(lite0_parts):
    backbone, classifier, original = lite0_parts
    from ftlab.data import samples

    photos = samples.reference_photos(96)[:3].astype("float32")
    expected = original.predict(photos, verbose=0)
    # the backbone was built at 64 px; the head is re-attached at the photos' 96 px
    for model in (backbone, classifier):
        probs = forgetting.imagenet_probabilities(model, photos)
        np.testing.assert_allclose(probs, expected, atol=1e-5)
    report = forgetting.measure_forgetting(backbone, classifier, photos)
    assert report.top1_agreement == 1.0 and report.kl_divergence < 1e-6


def test_changing_backbone_weights_shows_up_as_forgetting(lite0_parts):
    from ftlab.data import samples
    from ftlab.models import backbones, heads

    _, _, original = lite0_parts
    photos = samples.reference_photos(96).astype("float32")
    before = original.predict(photos, verbose=0)
    tuned = heads.build_classifier(backbones.build_backbone(image_size=64), 3)
    inner = forgetting.lite0_backbone(tuned)
    layer = inner.get_layer("head_conv")
    kernel = layer.get_weights()[0]
    layer.set_weights([kernel + np.random.default_rng(0).normal(0, 0.2, kernel.shape).astype("float32")])
    report = forgetting.measure_forgetting(None, tuned, photos, original_probs=before)
    assert report.kl_divergence > 0.05
    assert report.top1_agreement < 1.0 or report.confidence_kept < 0.95
    # the new classifier's own Dense layer does not matter: only the backbone is compared
    tuned.get_layer("classifier").set_weights([np.zeros_like(w) for w in tuned.get_layer("classifier").get_weights()])
    again = forgetting.measure_forgetting(None, tuned, photos, original_probs=before)
    assert again.kl_divergence == pytest.approx(report.kl_divergence, rel=1e-5)


def test_non_lite0_models_are_refused():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ModelError, match="EfficientNet-Lite0"):
        forgetting.lite0_backbone(model)
