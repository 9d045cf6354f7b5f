"""The softmax head of phase 1, solved on cached features: multinomial logistic regression by L-BFGS.

Holds :func:`fit_softmax_head` and the probability / log-loss helpers that
:func:`ftlab.train.finetune` uses to pick the head's L2 strength (``ftlab.train`` re-exports them).
Used in lessons 00-02 (phase 1 of the recipe).
"""

from __future__ import annotations

import numpy as np


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def fit_softmax_head(features, labels, num_classes: int, C: float = 1.0, sample_weight=None,
                     max_iter: int = 300, init=None):
    """Multinomial logistic regression fitted to its optimum by full-batch L-BFGS (scipy).

    On cached features the head is a convex problem, so it is solved rather than trained: the
    minimum of ``mean_i(w_i · cross-entropy_i) + ‖W‖² / (2 C n)`` (the bias is not penalised),
    the same objective as scikit-learn's ``LogisticRegression(C=C)``.

    Args:
        features: float array ``(n, d)``.
        labels: integer labels ``(n,)``.
        num_classes: number of classes (columns of ``W``).
        C: inverse L2 strength; larger fits the training data more closely.
        sample_weight: optional per-image weights (class weights expanded per image).
        max_iter: L-BFGS iteration cap.
        init: optional ``(kernel, bias)`` to start from (a neighbouring ``C``'s solution: a warm
            start converges in a fraction of the iterations).

    Returns:
        ``(kernel (d, k), bias (k,))``, float32: the weights of a Dense softmax layer.

    Example:
        >>> kernel, bias = fit_softmax_head(np.eye(4), [0, 1, 0, 1], 2)
        >>> kernel.shape, bias.shape
        ((4, 2), (2,))
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float32)  # float32 matrix products: half the time of float64
    # Centring is exact (the bias is not penalised: it absorbs the mean) and conditions the problem
    # better, so L-BFGS needs fewer iterations on ReLU features, which are all positive.
    mean = x.mean(axis=0)
    x = x - mean
    xt = np.ascontiguousarray(x.T)
    y = np.asarray(labels, dtype=int)
    n, d = x.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    onehot = np.eye(num_classes)[y]
    penalty = 1.0 / (float(C) * n)

    def objective(theta):
        kernel, bias = theta[: d * num_classes].reshape(d, num_classes), theta[d * num_classes:]
        log_p = _log_softmax((x @ kernel.astype(np.float32)).astype(np.float64) + bias)
        loss = -np.sum(w * np.sum(onehot * log_p, axis=1)) + 0.5 * penalty * np.sum(kernel * kernel)
        residual = (np.exp(log_p) - onehot) * w[:, None]
        grad_kernel = (xt @ residual.astype(np.float32)).astype(np.float64) + penalty * kernel
        return loss, np.concatenate([grad_kernel.ravel(), residual.sum(axis=0)])

    start = np.zeros(d * num_classes + num_classes)
    if init is not None:  # the bias of centred features: b + mean·W
        start = np.concatenate([np.ravel(init[0]), np.ravel(init[1] + mean @ init[0])]).astype(np.float64)
    # Small matrix products: one BLAS thread is faster than several fighting over 2 busy cores.
    with threadpool_limits(1):
        theta = minimize(objective, start, jac=True, method="L-BFGS-B",
                         options={"maxiter": int(max_iter), "gtol": 1e-5}).x
    kernel = theta[: d * num_classes].reshape(d, num_classes)
    return kernel.astype("float32"), (theta[d * num_classes:] - mean @ kernel).astype("float32")


def _softmax_probs(features, kernel, bias):
    return np.exp(_log_softmax(np.asarray(features, dtype=np.float64) @ kernel + bias))


def _log_loss(labels, probs, sample_weight=None) -> float:
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    w = np.ones(len(labels)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(-np.sum(w * np.log(picked)) / w.sum())
