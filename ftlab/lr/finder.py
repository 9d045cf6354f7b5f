"""The learning-rate finder (the "LR range test", Smith 2017; fastai's ``lr_find``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ftlab.errors import ModelError

# --------------------------------------------------------------------------------------------
# Learning-rate finder


@dataclass
class LRFinderResult:
    """What :func:`find_learning_rate` measured.

    Attributes:
        learning_rates: the rate used at each step (exponentially increasing).
        losses: the training loss of each step's mini-batch.
        smoothed: ``losses`` after an exponential moving average (bias-corrected).
        suggestion: the rate where the smoothed loss falls fastest (per decade of rate).
        min_loss_lr: the rate at the lowest smoothed loss (past it, training gets unstable).
        good_range: ``(low, high)``: where the smoothed loss falls at least half as fast as at
            ``suggestion``, capped at ``min_loss_lr``. Any rate in it is a reasonable choice.
        diverged: the sweep stopped early because the loss blew up.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    min_loss_lr: float
    good_range: tuple
    diverged: bool

    def contains(self, learning_rate: float) -> bool:
        """Whether ``learning_rate`` lies in :attr:`good_range`.

        Example:
            >>> result.contains(3e-3)  # doctest: +SKIP
            True
        """
        low, high = self.good_range
        return bool(low <= float(learning_rate) <= high)

    def __str__(self) -> str:
        low, high = self.good_range
        return (f"LR finder: {len(self.losses)} steps from {self.learning_rates[0]:.1e} to "
                f"{self.learning_rates[-1]:.1e}{' (stopped: loss diverged)' if self.diverged else ''}; "
                f"steepest fall at {self.suggestion:.1e}, lowest loss at {self.min_loss_lr:.1e}, "
                f"good range {low:.1e} … {high:.1e}")


def smooth_losses(losses, beta: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (the first values are not pulled to 0).

    Example:
        >>> smooth_losses([1.0, 1.0, 1.0]).round(6).tolist()
        [1.0, 1.0, 1.0]
    """
    smoothed, average = [], 0.0
    for i, loss in enumerate(np.asarray(losses, dtype=float)):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (i + 1)))
    return np.asarray(smoothed)


def suggest_learning_rate(learning_rates, smoothed, skip_start: float = 0.1, window: int = 5):
    """Steepest descent, lowest loss and a good range from a loss-vs-rate curve (pure NumPy).

    The slope is d(loss)/d(log10 rate), computed over ``window`` steps so that a single noisy
    batch does not decide. Only the part of the curve before the lowest loss counts.

    Args:
        learning_rates: increasing rates.
        smoothed: smoothed losses at those rates.
        skip_start: share of the first steps ignored (the average is still warming up there).
        window: steps over which each slope is taken.

    Returns:
        ``(suggestion, min_loss_lr, (low, high))``.

    Example:
        >>> lrs = np.logspace(-5, 0, 51)
        >>> loss = 2 - np.tanh(2 * (np.log10(lrs) + 2.5)) + np.where(lrs > 0.1, 50 * (lrs - 0.1), 0)
        >>> suggestion, lowest, (low, high) = suggest_learning_rate(lrs, loss)
        >>> bool(1e-3 < suggestion < 1e-2), bool(low < suggestion < high <= lowest)
        (True, True)
    """
    lrs = np.asarray(learning_rates, dtype=float)
    losses = np.asarray(smoothed, dtype=float)
    if lrs.shape != losses.shape or len(lrs) < 2 * window + 2:
        raise ValueError(f"suggest_learning_rate: need at least {2 * window + 2} (rate, loss) pairs of the same "
                         f"length, got {lrs.shape} and {losses.shape}; run the finder for more steps")
    finite = np.isfinite(losses)
    last = int(np.nonzero(finite)[0].max()) if finite.any() else 0
    losses = np.where(finite, losses, np.inf)
    start = min(int(len(lrs) * skip_start), max(0, last - 2 * window))
    lowest = start + int(np.argmin(losses[start:last + 1]))
    log_lr = np.log10(lrs)
    half = window // 2
    slopes = np.full(len(lrs), np.inf)
    for i in range(start + half, max(start + half + 1, lowest - half + 1)):
        lo, hi = max(start, i - half), min(lowest, i + half)
        if hi > lo:
            slopes[i] = (losses[hi] - losses[lo]) / (log_lr[hi] - log_lr[lo])
    steepest = int(np.argmin(slopes))
    if not np.isfinite(slopes[steepest]) or slopes[steepest] >= 0:
        # The loss never fell: no good range; suggest a rate well below where it is lowest.
        suggestion = float(lrs[lowest] / 10)
        return suggestion, float(lrs[lowest]), (suggestion, suggestion)
    threshold = 0.5 * slopes[steepest]
    low_i = steepest
    while low_i - 1 >= start and slopes[low_i - 1] <= threshold:
        low_i -= 1
    high_i = steepest
    while high_i + 1 <= lowest and slopes[high_i + 1] <= threshold:
        high_i += 1
    return float(lrs[steepest]), float(lrs[lowest]), (float(lrs[low_i]), float(min(lrs[high_i], lrs[lowest])))


def _batches(x, y, batch_size: int, seed: int):
    """Endless (x, y) mini-batches from arrays (reshuffled each pass) or from a tf.data.Dataset."""
    if y is None:  # a dataset of (x, y) batches
        while True:
            produced = False
            for xb, yb in x:
                produced = True
                yield xb, yb
            if not produced:
                raise ValueError("find_learning_rate: the dataset yielded no batches")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"find_learning_rate: x and y need the same, non-zero length (got {len(x)} and {len(y)})")
    rng = np.random.default_rng(seed)
    batch_size = min(batch_size, len(x))
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            yield x[idx].astype("float32"), y[idx]


def find_learning_rate(model, x, y=None, batch_size: int = 32, start_lr: float = 1e-6, end_lr: float = 1.0,
                       num_steps: int = 80, beta: float = 0.9, stop_factor: float = 4.0, restore: bool = True,
                       seed: int = 0) -> LRFinderResult:
    """The learning-rate range test: train briefly while the rate grows, and watch the loss.

    Step ``i`` of ``num_steps`` trains one mini-batch at ``start_lr * (end_lr/start_lr)**(i/(num_steps-1))``.
    The sweep stops early once the smoothed loss exceeds ``stop_factor`` × its lowest value.
    Cheap on cached features (a head trains at thousands of images per second): run it there.

    Args:
        model: a compiled Keras model whose optimizer has a plain (not scheduled) learning rate.
        x: inputs (array), or a ``tf.data.Dataset`` of ``(x, y)`` batches when ``y`` is None.
        y: integer labels for array inputs.
        batch_size: mini-batch size for array inputs.
        start_lr, end_lr: the range swept.
        num_steps: mini-batches in the sweep.
        beta: smoothing of the loss curve.
        stop_factor: divergence threshold.
        restore: put back the model's weights and optimizer state afterwards (default), so the
            sweep leaves the model as it found it.
        seed: shuffling seed for array inputs.

    Returns:
        :class:`LRFinderResult` (plot it with ``ftlab.plots.plot_lr_finder``).

    Raises:
        ModelError: the model is not compiled or its optimizer uses a schedule.

    Example:
        >>> head = ftlab.models.heads.build_head(1280, num_classes=12)  # doctest: +SKIP
        >>> head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # doctest: +SKIP
        >>> result = find_learning_rate(head, features_train, y_train)  # doctest: +SKIP
        >>> result.suggestion  # doctest: +SKIP
        0.0063
    """
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", False):
        raise ModelError(f"find_learning_rate: compile {model.name!r} first: model.compile(optimizer=..., loss=...)")
    if isinstance(optimizer.get_config().get("learning_rate"), dict):  # a schedule serialises as a dict
        raise ModelError("find_learning_rate: the optimizer uses a learning-rate schedule; compile with a plain "
                         "learning_rate=... for the sweep")
    if not (0 < start_lr < end_lr) or num_steps < 12:
        raise ValueError(f"find_learning_rate: need 0 < start_lr < end_lr and num_steps ≥ 12 "
                         f"(got {start_lr}, {end_lr}, {num_steps})")
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    saved_weights = [w.numpy().copy() for w in model.weights] if restore else None
    saved_optimizer = [v.numpy().copy() for v in optimizer.variables] if restore else None
    saved_lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    factor = (end_lr / start_lr) ** (1.0 / (num_steps - 1))
    rates, losses = [], []
    best, average, diverged = math.inf, 0.0, False
    batches = _batches(x, y, batch_size, seed)
    try:
        for step in range(num_steps):
            rate = start_lr * factor**step
            optimizer.learning_rate = rate
            xb, yb = next(batches)
            logs = model.train_on_batch(xb, yb, return_dict=True)
            loss = float(logs["loss"])
            rates.append(rate)
            losses.append(loss)
            average = beta * average + (1 - beta) * loss
            smoothed = average / (1 - beta ** (step + 1))
            if not math.isfinite(smoothed) or (step > 5 and smoothed > stop_factor * best):
                diverged = True
                break
            best = min(best, smoothed)
    finally:
        if restore:
            for variable, value in zip(model.weights, saved_weights, strict=True):
                variable.assign(value)
            for variable, value in zip(optimizer.variables, saved_optimizer, strict=True):
                variable.assign(value)
        optimizer.learning_rate = saved_lr

    rates_arr, losses_arr = np.asarray(rates), np.asarray(losses)
    smoothed_arr = smooth_losses(losses_arr, beta)
    suggestion, min_loss_lr, good_range = suggest_learning_rate(rates_arr, smoothed_arr)
    return LRFinderResult(rates_arr, losses_arr, smoothed_arr, suggestion, min_loss_lr, good_range, diverged)


# --------------------------------------------------------------------------------------------
# Discriminative learning rates
