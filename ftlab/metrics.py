"""Classification metrics in plain NumPy (no scikit-learn needed).

Introduced in lesson 01; lesson 02 adds the ones that matter when mistakes have a cost.
"""

from __future__ import annotations

import numpy as np


def _labels(y_pred_or_prob) -> np.ndarray:
    arr = np.asarray(y_pred_or_prob)
    return arr.argmax(axis=-1) if arr.ndim == 2 else arr.astype(int)


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
    """Recall of each class (NaN for a class absent from ``y_true``).

    Example:
        >>> per_class_recall([0, 1, 1, 1], [0, 1, 0, 1]).round(3).tolist()
        [1.0, 0.667]
    """
    matrix = confusion_matrix(y_true, y_pred_or_prob, num_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


def balanced_accuracy(y_true, y_pred_or_prob, num_classes: int | None = None) -> float:
    """Mean recall over the classes present: what plain accuracy hides on imbalanced data.

    Example:
        >>> balanced_accuracy([0, 1, 1, 1], [0, 1, 0, 1])
        0.8333333333333333
    """
    return float(np.nanmean(per_class_recall(y_true, y_pred_or_prob, num_classes)))


def classification_report(y_true, y_pred_or_prob, class_names) -> dict:
    """Accuracy, balanced accuracy, per-class recall (by name) and the confusion matrix.

    Example:
        >>> r = classification_report([0, 1, 1], [0, 1, 0], ["cat", "dog"])
        >>> r["per_class_recall"]
        {'cat': 1.0, 'dog': 0.5}
    """
    n = len(class_names)
    recall = per_class_recall(y_true, y_pred_or_prob, n)
    return {
        "accuracy": accuracy(y_true, y_pred_or_prob),
        "balanced_accuracy": float(np.nanmean(recall)),
        "per_class_recall": {name: (None if np.isnan(r) else float(r)) for name, r in zip(class_names, recall, strict=True)},
        "confusion_matrix": confusion_matrix(y_true, y_pred_or_prob, n).tolist(),
    }
