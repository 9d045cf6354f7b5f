"""Calibration: do a model's probabilities mean what they say?

Introduced in lesson 02. A classifier trained with cross-entropy (and even more so with class
weights or oversampling) is often over- or under-confident. *Temperature scaling* (Guo et al.
2017, "On Calibration of Modern Neural Networks") fixes that with one number ``T`` fitted on
validation data: ``softmax(logits / T)``. It never changes which class wins, so accuracy,
recall and ROC-AUC stay exactly the same; only the confidence moves.

NumPy and SciPy (``scipy.special`` for softmax and log-sum-exp, ``scipy.optimize`` for the
one-dimensional search); the plot helper imports matplotlib when called.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.special

from ftlab import metrics


def softmax(logits, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (``scipy.special.softmax`` on float64).

    Example:
        >>> softmax([[0.0, 0.0], [0.0, np.log(3.0)]]).round(3).tolist()
        [[0.5, 0.5], [0.25, 0.75]]
    """
    return scipy.special.softmax(np.asarray(logits, dtype=float), axis=axis)


def logits_from_probabilities(probs, eps: float = 1e-12) -> np.ndarray:
    """Log-probabilities, which softmax maps back to ``probs`` (logits up to a per-row constant).

    Use it when a model ends in a softmax layer: temperature scaling of ``log p`` is the same as
    temperature scaling of the logits, because ``softmax`` ignores a constant added to a row.

    Example:
        >>> softmax(logits_from_probabilities([[0.2, 0.8]])).round(3).tolist()
        [[0.2, 0.8]]
    """
    return np.log(np.clip(np.asarray(probs, dtype=float), eps, 1.0))


def _check_inputs(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=float)
    y = np.asarray(labels, dtype=int).ravel()
    if z.ndim != 2:
        raise ValueError(f"logits must have shape [n, classes], got {z.shape}")
    if len(z) != len(y):
        raise ValueError(f"{len(z)} rows of logits but {len(y)} labels; they must match")
    if len(y) == 0:
        raise ValueError("temperature scaling needs at least one validation sample")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be in 0..{z.shape[1] - 1}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or inf; check the model's outputs")
    return z, y


def temperature_nll(logits, labels, temperature: float) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)``.

    Example:
        >>> round(temperature_nll([[2.0, 0.0]], [0], 1.0), 4)
        0.1269
    """
    z, y = _check_inputs(logits, labels)
    scaled = z / float(temperature)
    log_norm = scipy.special.logsumexp(scaled, axis=1)
    return float(np.mean(log_norm - scaled[np.arange(len(y)), y]))


def fit_temperature(logits, labels, bounds: tuple[float, float] = (0.05, 20.0), tolerance: float = 1e-6) -> float:
    """Find the temperature ``T`` that minimises the validation negative log-likelihood.

    The NLL is convex in ``1/T``, so a bounded one-dimensional search over ``1/T``
    (``scipy.optimize.minimize_scalar``, Brent's method) finds the optimum without a learning
    rate. Fit on *validation* data, never on the test set you report.

    Args:
        logits: validation logits ``[n, classes]`` (or :func:`logits_from_probabilities`).
        labels: validation labels ``[n]``.
        bounds: the range of temperatures searched.
        tolerance: the absolute tolerance in ``1/T`` (SciPy's ``xatol``).

    Returns:
        ``T`` > 1 when the model was over-confident, < 1 when under-confident.

    Example:
        >>> # logits [2, 0] everywhere, right 3 times in 4: the best T makes p = 0.75
        >>> t = fit_temperature([[2.0, 0.0]] * 4, [0, 0, 0, 1])
        >>> round(t, 3), round(2 / float(np.log(3)), 3)
        (1.82, 1.82)
    """
    z, y = _check_inputs(logits, labels)
    low, high = 1.0 / bounds[1], 1.0 / bounds[0]  # search over beta = 1/T
    result = scipy.optimize.minimize_scalar(lambda beta: temperature_nll(z, y, 1.0 / beta), bounds=(low, high),
                                            method="bounded", options={"xatol": tolerance})
    if not result.success:
        raise RuntimeError(f"fit_temperature: the search over 1/T in [{low:.3g}, {high:.3g}] failed: {result.message}")
    return float(1.0 / result.x)


def apply_temperature(logits, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(logits / temperature)``.

    Example:
        >>> apply_temperature([[2.0, 0.0]], 2.0).round(3).tolist()
        [[0.731, 0.269]]
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(np.asarray(logits, dtype=float) / float(temperature))


class TemperatureScaler:
    """Fit-then-apply wrapper around :func:`fit_temperature`, accepting logits or probabilities.

    Example:
        >>> scaler = TemperatureScaler().fit(val_probs, y_val, from_probabilities=True)  # doctest: +SKIP
        >>> test_probs_calibrated = scaler.transform(test_probs)  # doctest: +SKIP
    """

    def __init__(self):
        self.temperature: float | None = None
        self.from_probabilities = False

    def _logits(self, scores) -> np.ndarray:
        return logits_from_probabilities(scores) if self.from_probabilities else np.asarray(scores, dtype=float)

    def fit(self, scores, labels, from_probabilities: bool = False) -> TemperatureScaler:
        """Fit ``T`` on validation scores (logits, or probabilities with ``from_probabilities``)."""
        self.from_probabilities = bool(from_probabilities)
        self.temperature = fit_temperature(self._logits(scores), labels)
        return self

    def transform(self, scores) -> np.ndarray:
        """Calibrated probabilities for scores of the same kind as those given to :meth:`fit`."""
        if self.temperature is None:
            raise RuntimeError("call fit(validation_scores, validation_labels) before transform")
        return apply_temperature(self._logits(scores), self.temperature)


def reliability_diagram(y_true, y_prob, n_bins: int = 10) -> dict:
    """The data of a reliability diagram: per confidence bin, how often the model is right.

    A perfectly calibrated model's bars sit on the diagonal (accuracy = confidence).

    Returns:
        dict with ``edges``, ``centers``, ``count``, ``confidence``, ``accuracy`` (one per bin,
        NaN where empty) and ``ece`` (expected calibration error over these bins).

    Example:
        >>> d = reliability_diagram([0, 1], [[0.9, 0.1], [0.8, 0.2]], n_bins=2)
        >>> d["accuracy"].tolist(), round(d["ece"], 3)
        ([nan, 0.5], 0.35)
    """
    bins = metrics.calibration_bins(y_true, y_prob, n_bins)
    edges = bins["edges"]
    return {**bins, "centers": (edges[:-1] + edges[1:]) / 2.0,
            "ece": metrics.expected_calibration_error(y_true, y_prob, n_bins)}


def plot_reliability_diagram(diagrams: dict, ax=None, title: str = "Reliability diagram"):
    """Draw one or more reliability diagrams (label → :func:`reliability_diagram` output).

    Bars show accuracy per confidence bin; the dashed diagonal is perfect calibration; the
    legend carries each curve's ECE. Returns the matplotlib axes.

    Example:
        >>> ax = plot_reliability_diagram({"before": reliability_diagram(y, p)})  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    width_share = 0.8 / max(1, len(diagrams))
    for i, (label, data) in enumerate(diagrams.items()):
        edges = data["edges"]
        width = (edges[1] - edges[0]) * width_share
        filled = data["count"] > 0
        left = edges[:-1][filled] + (edges[1] - edges[0]) * 0.1 + i * width
        ax.bar(left, data["accuracy"][filled], width=width, align="edge", alpha=0.75,
               label=f"{label} (ECE {data['ece']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    return ax
