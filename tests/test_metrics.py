"""ftlab.metrics against values worked out by hand (the comments show the arithmetic)."""

import numpy as np
import pytest

from ftlab import metrics

# Ten imbalanced samples, three classes: 0 is the majority.
Y_TRUE = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 0])


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    assert cm.tolist() == [[5, 1, 0], [1, 1, 0], [2, 0, 0]]


def test_accuracy_hides_a_class_that_is_never_found():
    # 6 of 10 right, but class 2 is never found: recall (5/6, 1/2, 0) -> mean 4/9
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.6)
    assert metrics.per_class_recall(Y_TRUE, Y_PRED, 3) == pytest.approx([5 / 6, 0.5, 0.0])
    assert metrics.balanced_accuracy(Y_TRUE, Y_PRED, 3) == pytest.approx((5 / 6 + 0.5 + 0) / 3)


def test_always_majority_classifier_has_high_accuracy_but_chance_balanced_accuracy():
    y = np.array([0] * 90 + [1] * 10)
    assert metrics.accuracy(y, np.zeros(100)) == pytest.approx(0.9)
    assert metrics.balanced_accuracy(y, np.zeros(100)) == pytest.approx(0.5)


def test_precision_is_nan_for_a_class_never_predicted():
    precision = metrics.per_class_precision(Y_TRUE, Y_PRED, 3)
    # predicted 0: 8 times, 5 right; predicted 1: twice, 1 right; 2 never predicted
    assert precision[:2] == pytest.approx([5 / 8, 0.5])
    assert np.isnan(precision[2])


def test_probabilities_are_turned_into_argmax_labels():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    assert metrics.accuracy([0, 0, 1], probs) == pytest.approx(2 / 3)
    assert metrics.confusion_matrix([0, 0, 1], probs).tolist() == [[1, 1], [0, 1]]


def test_roc_auc_counts_ordered_pairs_and_half_ties():
    # positives 0.8, 0.5; negatives 0.5, 0.3, 0.1 -> pairs won: 3 + (2 + one tie = 2.5) = 5.5 of 6
    y = [1, 1, 0, 0, 0]
    s = [0.8, 0.5, 0.5, 0.3, 0.1]
    assert metrics.roc_auc(y, s) == pytest.approx(5.5 / 6)
    assert metrics.roc_auc(y, -np.array(s)) == pytest.approx(0.5 / 6)


def test_roc_auc_is_invariant_to_monotone_transforms_and_nan_for_one_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    assert metrics.roc_auc(y, s) == pytest.approx(metrics.roc_auc(y, np.exp(3 * s)))
    assert np.isnan(metrics.roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_roc_auc_matches_brute_force_pair_count():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60).astype(bool)
    s = np.round(rng.random(60), 1)  # many ties
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert metrics.roc_auc(y, s) == pytest.approx(wins / (len(pos) * len(neg)))


def test_roc_auc_ovr_is_macro_mean_of_one_vs_rest():
    y = [0, 1, 2, 1]
    p = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]]
    # class 0: 1.0; class 1: positives .5 .3 vs negatives .2 .3 -> 3.5/4; class 2: 1.0
    assert metrics.roc_auc_per_class(y, p) == pytest.approx([1.0, 0.875, 1.0])
    assert metrics.roc_auc_ovr(y, p) == pytest.approx((1 + 0.875 + 1) / 3)


def test_roc_auc_ovr_skips_absent_classes_and_rejects_labels():
    p = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    assert metrics.roc_auc_ovr([0, 1], p) == pytest.approx(1.0)  # class 2 absent: left out
    with pytest.raises(ValueError, match="one row of scores"):
        metrics.roc_auc_ovr([0, 1], [0, 1])


def test_roc_curve_end_points_and_steps():
    fpr, tpr, thresholds = metrics.roc_curve([0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert thresholds[0] == np.inf
    # trapezoid area equals the rank-based AUC
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc([0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8]))


def test_sensitivity_at_specificity_picks_lowest_threshold_meeting_the_target():
    y = [0, 0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.9, 0.35, 0.5, 0.6, 0.95]
    # threshold 0.5: negatives below = 4/5 = 0.8; positives >= 0.5: 3/4
    point = metrics.sensitivity_at_specificity(y, s, specificity=0.8)
    assert point == pytest.approx((0.75, 0.8, 0.5))
    # threshold 0.35: negatives below = 3/5 = 0.6; positives >= 0.35: 4/4
    assert metrics.sensitivity_at_specificity(y, s, specificity=0.6).sensitivity == pytest.approx(1.0)
    # full specificity needs a threshold above 0.9: only 0.95 is caught
    assert metrics.sensitivity_at_specificity(y, s, specificity=1.0) == pytest.approx((0.25, 1.0, 0.95))


def test_sensitivity_at_specificity_rejects_bad_input():
    with pytest.raises(ValueError, match="both positives and negatives"):
        metrics.sensitivity_at_specificity([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.sensitivity_at_specificity([0, 1], [0.2, 0.3], specificity=90)
    with pytest.raises(ValueError, match="must match"):
        metrics.sensitivity_at_specificity([0, 1], [0.2, 0.3, 0.4])


def test_operating_point_applies_a_given_threshold():
    point = metrics.operating_point([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    assert point == pytest.approx((0.5, 0.5, 0.5))


def test_calibration_bins_by_top_probability():
    y = [0, 1, 0, 1]
    p = [[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]
    bins = metrics.calibration_bins(y, p, n_bins=5)  # edges 0, .2, .4, .6, .8, 1
    assert bins["edges"] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert bins["count"].tolist() == [0, 0, 1, 1, 2]
    assert bins["confidence"][2:] == pytest.approx([0.55, 0.7, 0.9])
    assert bins["accuracy"][2:] == pytest.approx([1.0, 1.0, 0.5])
    assert np.isnan(bins["accuracy"][0])


def test_expected_calibration_error_by_hand():
    y = [0, 1, 0, 1]
    p = [[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]
    # bins: {.55 right} gap .45; {.7 right} gap .3; {.9 right, .9 wrong} gap .4 (x2)
    assert metrics.expected_calibration_error(y, p, n_bins=5) == pytest.approx((0.45 + 0.3 + 2 * 0.4) / 4)


def test_perfectly_calibrated_predictions_have_small_ece():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    correct = rng.random(20000) < conf
    y_true = np.where(correct, 0, 1)
    probs = np.stack([conf, 1 - conf], axis=1)
    assert metrics.expected_calibration_error(y_true, probs) < 0.02
    overconfident = np.stack([np.full(20000, 0.99), np.full(20000, 0.01)], axis=1)
    assert metrics.expected_calibration_error(y_true, overconfident) > 0.2


def test_ece_rejects_labels_instead_of_probabilities():
    with pytest.raises(ValueError, match="softmax"):
        metrics.expected_calibration_error([0, 1], [0, 1])


def test_negative_log_likelihood():
    assert metrics.negative_log_likelihood([0, 1], [[0.5, 0.5], [0.2, 0.8]]) == pytest.approx(
        -(np.log(0.5) + np.log(0.8)) / 2
    )


def test_classification_report_keeps_its_keys_for_labels():
    report = metrics.classification_report(Y_TRUE, Y_PRED, ["a", "b", "c"])
    assert set(report) == {"accuracy", "balanced_accuracy", "per_class_recall", "confusion_matrix"}
    assert report["per_class_recall"] == pytest.approx({"a": 5 / 6, "b": 0.5, "c": 0.0})


def test_classification_report_adds_auc_and_ece_for_probabilities():
    y = [0, 1, 2, 1]
    p = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]]
    report = metrics.classification_report(y, p, ["a", "b", "c"])
    assert report["roc_auc_ovr"] == pytest.approx(2.875 / 3)
    assert report["per_class_auc"]["b"] == pytest.approx(0.875)
    assert report["ece"] == pytest.approx(metrics.expected_calibration_error(y, p))
    assert report["accuracy"] == pytest.approx(0.75)
    # logits are not probabilities: no calibration figures are made up from them
    logits = np.log(np.array(p)) * 3 + 1
    assert "ece" not in metrics.classification_report(y, logits, ["a", "b", "c"])


def test_roc_curve_with_one_class_present_stays_finite():
    fpr, tpr, thresholds = metrics.roc_curve([0, 0, 0], [0.1, 0.5, 0.9])
    assert fpr.tolist() == [0.0, 1.0, 1.0, 1.0] and tpr.tolist() == [0.0, 0.0, 0.0, 0.0]
    fpr, tpr, _ = metrics.roc_curve([1, 1], [0.2, 0.3])
    assert tpr.tolist() == [0.0, 1.0, 1.0] and fpr.tolist() == [0.0, 0.0, 0.0]
