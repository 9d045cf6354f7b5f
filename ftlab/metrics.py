"""Classification metrics: NumPy for the ones a lesson explains line by line, scikit-learn for ROC.

Introduced in lesson 01; lesson 02 adds the ones that matter when mistakes have a cost:
balanced accuracy and per-class recall (what plain accuracy hides on imbalanced data),
one-vs-rest ROC-AUC, sensitivity at a fixed specificity (a screening operating point) and
expected calibration error (do the probabilities mean what they say?).

ROC-AUC and the ROC curve come from ``sklearn.metrics`` (imported when first used, so
``import ftlab.metrics`` stays light); the wrappers add what the lessons need: NaN instead of an
exception when a split holds one class only, and a clear error on NaN scores.

Conventions: ``y_true`` holds integer class indices; ``y_pred_or_prob`` holds either integer
predictions (1-D) or one row of scores/probabilities per sample (2-D, argmax = prediction).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np


def _labels(y_pred_or_prob) -> np.ndarray:
    arr = np.asarray(y_pred_or_prob)
    return arr.argmax(axis=-1) if arr.ndim == 2 else arr.astype(int)


def _as_probabilities(y_pred_or_prob) -> np.ndarray | None:
    """The 2-D array when it holds probabilities (rows ≥ 0 summing to 1), else None."""
    arr = np.asarray(y_pred_or_prob, dtype=float)
    if arr.ndim != 2 or arr.size == 0:
        return None
    if np.any(arr < -1e-6) or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-3):
        return None
    return arr


def confusion_matrix(y_true, y_pred_or_prob, num_classes: int | None = None) -> np.ndarray:
    """Counts ``[true class, predicted class]``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1]).tolist()
        [[1, 0], [1, 1]]
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = _labels(y_pred_or_prob)
    n = num_classes or int(max(y_true.max(initial=0), y_pred.max(initial=0)) + 1)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def accuracy(y_true, y_pred_or_prob) -> float:
    """Share of correct predictions.

    Example:
        >>> accuracy([0, 1, 1, 1], [0, 1, 0, 1])
        0.75
    """
    y_true = np.asarray(y_true, dtype=int)
    return float(np.mean(_labels(y_pred_or_prob) == y_true)) if len(y_true) else float("nan")


def per_class_recall(y_true, y_pred_or_prob, num_classes: int | None = None) -> np.ndarray:
    """Recall (sensitivity) of each class (NaN for a class absent from ``y_true``).

    Example:
        >>> per_class_recall([0, 1, 1, 1], [0, 1, 0, 1]).round(3).tolist()
        [1.0, 0.667]
    """
    matrix = confusion_matrix(y_true, y_pred_or_prob, num_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


def per_class_precision(y_true, y_pred_or_prob, num_classes: int | None = None) -> np.ndarray:
    """Precision of each class (NaN for a class that is never predicted).

    Introduced in lesson 02.

    Example:
        >>> per_class_precision([0, 1, 1, 1], [0, 1, 0, 1]).round(3).tolist()
        [0.5, 1.0]
    """
    matrix = confusion_matrix(y_true, y_pred_or_prob, num_classes)
    predicted = matrix.sum(axis=0)
    return np.where(predicted > 0, np.diag(matrix) / np.maximum(predicted, 1), np.nan)


def balanced_accuracy(y_true, y_pred_or_prob, num_classes: int | None = None) -> float:
    """Mean recall over the classes present: what plain accuracy hides on imbalanced data.

    Example:
        >>> balanced_accuracy([0, 1, 1, 1], [0, 1, 0, 1])
        0.8333333333333333
    """
    return float(np.nanmean(per_class_recall(y_true, y_pred_or_prob, num_classes)))


def _binary_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but scores has {s.size}; they must match")
    if np.any(~np.isfinite(s)):
        raise ValueError("scores contain NaN or inf; check the model's outputs")
    return y, s


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve of a binary problem (NaN if only one class is present).

    Equals the probability that a random positive scores higher than a random negative
    (ties count one half): the Mann–Whitney U statistic divided by ``n_pos * n_neg``.
    Introduced in lesson 02.

    Args:
        y_true: 1/True for positives, 0/False for negatives.
        scores: higher means "more likely positive" (probabilities, logits, anything).

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    from sklearn.metrics import roc_auc_score

    y, s = _binary_inputs(y_true, scores)
    if y.all() or not y.any():
        return float("nan")  # scikit-learn raises: AUC is undefined with one class
    return float(roc_auc_score(y, s))


def roc_auc_per_class(y_true, y_prob, num_classes: int | None = None) -> np.ndarray:
    """One-vs-rest ROC-AUC of each class (NaN where a class is absent or is everything).

    Introduced in lesson 02.

    Example:
        >>> p = [[0.8, 0.2], [0.3, 0.7], [0.9, 0.1]]
        >>> roc_auc_per_class([0, 1, 1], p).tolist()
        [0.5, 0.5]
    """
    y_true = np.asarray(y_true, dtype=int)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_prob.ndim != 2:
        raise ValueError("roc_auc needs one row of scores per sample (shape [n, classes]), not labels")
    n = num_classes or y_prob.shape[1]
    return np.array([roc_auc(y_true == k, y_prob[:, k]) for k in range(n)])


def roc_auc_ovr(y_true, y_prob, num_classes: int | None = None) -> float:
    """Macro one-vs-rest ROC-AUC: the mean of each class's AUC against all others.

    Classes without positives (or without negatives) in ``y_true`` are left out of the mean,
    as scikit-learn cannot score them either. Introduced in lesson 02.

    Example:
        >>> p = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]]
        >>> round(roc_auc_ovr([0, 1, 2, 1], p), 4)
        0.9583
    """
    per_class = roc_auc_per_class(y_true, y_prob, num_classes)
    return float(np.nanmean(per_class)) if np.any(~np.isnan(per_class)) else float("nan")


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds of a binary ROC curve.

    A sample counts as positive when ``score >= threshold``; the first point is
    ``(0, 0)`` at threshold ``+inf``, the last ``(1, 1)``; one point per distinct score
    (``sklearn.metrics.roc_curve`` with ``drop_intermediate=False``). Introduced in lesson 02.

    Example:
        >>> fpr, tpr, thr = roc_curve([0, 1, 1], [0.2, 0.6, 0.9])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    from sklearn.metrics import roc_curve as sklearn_roc_curve

    y, s = _binary_inputs(y_true, scores)
    if y.all() or not y.any():  # scikit-learn would divide by zero: the missing class's rate stays 0
        thresholds = np.r_[np.inf, np.unique(s)[::-1]]
        rate = np.r_[0.0, np.ones(len(thresholds) - 1)]
        zeros = np.zeros(len(thresholds))
        return (zeros, rate, thresholds) if y.all() else (rate, zeros, thresholds)
    fpr, tpr, thresholds = sklearn_roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thresholds


class OperatingPoint(NamedTuple):
    """A decision threshold and what it gives: positives are ``score >= threshold``."""

    sensitivity: float
    specificity: float
    threshold: float


def sensitivity_at_specificity(y_true, scores, specificity: float = 0.9) -> OperatingPoint:
    """The most sensitive threshold whose specificity is at least ``specificity``.

    Screening asks: "if we accept at most 10 % false alarms among healthy lesions, how many
    melanomas do we catch?". Pick the threshold on validation data, then report the test
    sensitivity at that same threshold (:func:`operating_point`). Introduced in lesson 02.

    Args:
        y_true: 1/True for the positive class (e.g. melanoma), 0/False for the rest.
        scores: the model's score for the positive class (higher = more suspicious).
        specificity: the minimum share of negatives that must stay below the threshold.

    Returns:
        ``OperatingPoint(sensitivity, specificity, threshold)`` achieved on these data.

    Example:
        >>> y = [0, 0, 0, 0, 1, 1]
        >>> s = [0.1, 0.2, 0.3, 0.7, 0.6, 0.9]
        >>> sensitivity_at_specificity(y, s, specificity=0.75)
        OperatingPoint(sensitivity=1.0, specificity=0.75, threshold=0.6)
    """
    if not 0.0 <= specificity <= 1.0:
        raise ValueError(f"specificity must be in [0, 1], got {specificity}")
    y, s = _binary_inputs(y_true, scores)
    if y.all() or not y.any():
        raise ValueError("sensitivity_at_specificity needs both positives and negatives in y_true")
    # Specificity only grows with the threshold and sensitivity only falls, so the answer is
    # the lowest candidate threshold that reaches the required specificity.
    for threshold in np.r_[np.unique(s), np.inf]:
        point = operating_point(y, s, threshold)
        if point.specificity >= specificity - 1e-12:
            return point
    raise AssertionError("unreachable: threshold +inf has specificity 1")


def operating_point(y_true, scores, threshold: float) -> OperatingPoint:
    """Sensitivity and specificity of the rule ``score >= threshold``.

    Introduced in lesson 02.

    Example:
        >>> operating_point([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
        OperatingPoint(sensitivity=0.5, specificity=0.5, threshold=0.5)
    """
    y, s = _binary_inputs(y_true, scores)
    positive = s >= threshold
    sens = float(positive[y].mean()) if y.any() else float("nan")
    spec = float((~positive[~y]).mean()) if (~y).any() else float("nan")
    return OperatingPoint(sens, spec, float(threshold))


def calibration_bins(y_true, y_prob, n_bins: int = 15) -> dict:
    """Group predictions by confidence (top probability) into equal-width bins.

    Bin ``b`` holds confidences in ``(b/n, (b+1)/n]`` (the first bin also takes 0), as in
    Guo et al. 2017. Used by :func:`expected_calibration_error` and the reliability diagram.
    Introduced in lesson 02.

    Returns:
        dict of arrays, one value per bin: ``edges`` (n_bins + 1), ``count``, ``confidence``
        (mean top probability) and ``accuracy`` (share correct); NaN for empty bins.

    Example:
        >>> b = calibration_bins([0, 1], [[0.9, 0.1], [0.8, 0.2]], n_bins=2)
        >>> b["count"].tolist(), b["accuracy"].tolist()
        ([0, 2], [nan, 0.5])
    """
    y_true = np.asarray(y_true, dtype=int)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_prob.ndim != 2:
        raise ValueError("calibration needs probabilities, shape [n, classes]; apply softmax to logits first")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    confidence = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        mean_acc = np.bincount(index, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": mean_acc}


def expected_calibration_error(y_true, y_prob, n_bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean gap |accuracy − confidence| over bins.

    0 means "when the model says 80 %, it is right 80 % of the time". Introduced in lesson 02.

    Example:
        >>> y_prob = [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]
        >>> round(expected_calibration_error([0, 1, 0, 1], y_prob, n_bins=10), 4)
        0.375
    """
    bins = calibration_bins(y_true, y_prob, n_bins)
    total = bins["count"].sum()
    if total == 0:
        return float("nan")
    filled = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    return float(np.sum(bins["count"][filled] * gaps) / total)


def negative_log_likelihood(y_true, y_prob, eps: float = 1e-12) -> float:
    """Mean cross-entropy of the true class (lower is better; rewards honest confidence).

    Example:
        >>> round(negative_log_likelihood([0, 1], [[0.5, 0.5], [0.5, 0.5]]), 4)
        0.6931
    """
    y_true = np.asarray(y_true, dtype=int)
    y_prob = np.asarray(y_prob, dtype=float)
    return float(-np.mean(np.log(np.clip(y_prob[np.arange(len(y_true)), y_true], eps, 1.0))))


def classification_report(y_true, y_pred_or_prob, class_names) -> dict:
    """Accuracy, balanced accuracy, per-class recall (by name) and the confusion matrix.

    When ``y_pred_or_prob`` holds probabilities (rows summing to 1) the report also has
    ``roc_auc_ovr`` (macro one-vs-rest), ``per_class_auc`` and ``ece`` (15 bins).

    Example:
        >>> r = classification_report([0, 1, 1], [0, 1, 0], ["cat", "dog"])
        >>> r["per_class_recall"]
        {'cat': 1.0, 'dog': 0.5}
    """
    n = len(class_names)
    recall = per_class_recall(y_true, y_pred_or_prob, n)
    report = {
        "accuracy": accuracy(y_true, y_pred_or_prob),
        "balanced_accuracy": float(np.nanmean(recall)),
        "per_class_recall": {name: (None if np.isnan(r) else float(r)) for name, r in zip(class_names, recall, strict=True)},
        "confusion_matrix": confusion_matrix(y_true, y_pred_or_prob, n).tolist(),
    }
    unvalidated = [name for name, r in zip(class_names, recall, strict=True) if np.isnan(r)]
    if unvalidated:
        # A class absent from y_true is left out of the balanced accuracy: say so, never silently.
        report["unvalidated_classes"] = unvalidated
        report["warning"] = (
            f"class(es) {', '.join(repr(c) for c in unvalidated)} have no validation images, so their "
            f"recall was never measured and balanced accuracy covers the other classes only: add images "
            f"of them (at least 2 per class, so one can go to validation)"
        )
        warnings.warn(report["warning"], UserWarning, stacklevel=2)
    probs = _as_probabilities(y_pred_or_prob)
    if probs is not None and probs.shape[1] == n:
        auc = roc_auc_per_class(y_true, probs, n)
        report["roc_auc_ovr"] = float(np.nanmean(auc)) if np.any(~np.isnan(auc)) else None
        report["per_class_auc"] = {name: (None if np.isnan(a) else float(a)) for name, a in zip(class_names, auc, strict=True)}
        report["ece"] = expected_calibration_error(y_true, probs)
    return report
