"""ftlab.calibration: temperature scaling and reliability-diagram data, checked by hand."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from ftlab import calibration, metrics


def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0]])
    p = calibration.softmax(z)
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert p[0] == pytest.approx(p[1])  # no overflow at 1000
    e = np.exp([1.0, 2.0, 3.0])
    assert p[0] == pytest.approx(e / e.sum())


def test_log_probabilities_round_trip_through_softmax():
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    assert calibration.softmax(calibration.logits_from_probabilities(probs)) == pytest.approx(probs)


def test_temperature_nll_by_hand():
    # -log softmax([2, 0] / 2)[0] = log(1 + e^-1)
    assert calibration.temperature_nll([[2.0, 0.0]], [0], 2.0) == pytest.approx(np.log1p(np.exp(-1.0)))


def test_fit_temperature_matches_the_closed_form():
    # Every sample has logits [z, 0]; a share q of them is class 0. The NLL is minimal where
    # sigmoid(z / T) = q, i.e. T = z / logit(q).
    z, q = 3.0, 0.8
    logits = np.array([[z, 0.0]] * 10)
    labels = np.array([0] * 8 + [1] * 2)
    expected = z / np.log(q / (1 - q))
    assert calibration.fit_temperature(logits, labels) == pytest.approx(expected, rel=1e-4)


def test_over_confident_model_gets_temperature_above_one_and_lower_ece():
    rng = np.random.default_rng(0)
    n, k = 4000, 4
    true_logits = rng.normal(size=(n, k)) * 1.5
    labels = np.array([rng.choice(k, p=p) for p in calibration.softmax(true_logits)])
    over_confident = true_logits * 3.0  # same ranking, three times too sharp
    t = calibration.fit_temperature(over_confident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = metrics.expected_calibration_error(labels, calibration.softmax(over_confident))
    after = metrics.expected_calibration_error(labels, calibration.apply_temperature(over_confident, t))
    assert after < before / 2
    # temperature never changes the predicted class
    assert (calibration.apply_temperature(over_confident, t).argmax(1) == over_confident.argmax(1)).all()


def test_under_confident_model_gets_temperature_below_one():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3000, 3)) * 2.0
    labels = np.array([rng.choice(3, p=p) for p in calibration.softmax(logits)])
    assert calibration.fit_temperature(logits * 0.5, labels) == pytest.approx(0.5, rel=0.1)


def test_fit_temperature_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        calibration.fit_temperature([0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="must match"):
        calibration.fit_temperature([[0.1, 0.2]], [0, 1])
    with pytest.raises(ValueError, match="labels must be in"):
        calibration.fit_temperature([[0.1, 0.2]], [2])
    with pytest.raises(ValueError, match="NaN"):
        calibration.fit_temperature([[np.nan, 0.2]], [0])
    with pytest.raises(ValueError, match="positive"):
        calibration.apply_temperature([[0.1, 0.2]], 0.0)


def test_temperature_scaler_on_probabilities():
    probs = calibration.softmax(np.array([[3.0, 0.0]] * 10))
    labels = np.array([0] * 8 + [1] * 2)
    scaler = calibration.TemperatureScaler().fit(probs, labels, from_probabilities=True)
    assert scaler.temperature == pytest.approx(3.0 / np.log(4.0), rel=1e-4)
    assert scaler.transform(probs)[0] == pytest.approx([0.8, 0.2], abs=1e-4)
    with pytest.raises(RuntimeError, match="fit"):
        calibration.TemperatureScaler().transform(probs)


def test_reliability_diagram_data_by_hand():
    y = [0, 1, 0, 1]
    p = [[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]
    d = calibration.reliability_diagram(y, p, n_bins=5)
    assert d["centers"] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    assert d["count"].tolist() == [0, 0, 1, 1, 2]
    assert d["accuracy"][2:] == pytest.approx([1.0, 1.0, 0.5])
    assert d["ece"] == pytest.approx((0.45 + 0.3 + 2 * 0.4) / 4)


def test_plot_reliability_diagram_draws_one_bar_per_filled_bin():
    y = [0, 1, 0, 1]
    p = [[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]
    d = calibration.reliability_diagram(y, p, n_bins=5)
    ax = calibration.plot_reliability_diagram({"before": d, "after": d})
    assert len(ax.patches) == 2 * 3
    assert "ECE" in ax.get_legend().get_texts()[1].get_text()
