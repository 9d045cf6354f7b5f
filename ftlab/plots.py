"""Shared matplotlib figures: training curves, strategy comparisons, the LR finder, image grids.

Introduced in lesson 01; every lesson may use them. Each function draws on a new figure (or on
the ``ax`` you pass) and returns the figure, so a notebook can show it, save it
(``fig.savefig("curves.png")``) or test it. Matplotlib is imported on first use.
"""

from __future__ import annotations

import math

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _colour(i: int) -> str:
    """The ``i``-th colour of matplotlib's current cycle (``C0``, ``C1`` …; a style sheet changes them)."""
    import matplotlib as mpl

    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    return colours[i % len(colours)]


def history_dict(history) -> dict:
    """``{metric: [values per epoch]}`` from a Keras ``History``, a dict, or a list of epoch logs.

    Example:
        >>> history_dict([{"loss": 1.0}, {"loss": 0.5}])
        {'loss': [1.0, 0.5]}
    """
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, list | tuple):
        merged: dict = {}
        for logs in history:
            for key, value in logs.items():
                merged.setdefault(key, []).append(float(value))
        return merged
    if isinstance(history, dict):
        return {key: [float(v) for v in np.ravel(values)] for key, values in history.items()}
    raise TypeError(f"history_dict: expected a keras History, a dict or a list of logs, got {type(history).__name__}")


def _metric_names(histories: dict, metrics) -> list:
    if metrics is not None:
        return list(metrics)
    names = []
    for hist in histories.values():
        for key in hist:
            base = key[4:] if key.startswith("val_") else key
            if base not in names and base not in ("learning_rate", "lr"):
                names.append(base)
    return names


def plot_history(history, metrics=None, title: str | None = None, axes=None, figsize=None):
    """Training curves: one panel per metric, training solid, validation dashed.

    Args:
        history: a Keras ``History``, a ``{metric: values}`` dict, or ``{label: history}`` to
            overlay several runs (each run gets its own colour).
        metrics: metric names to draw (default: every metric found, e.g. loss and accuracy).
        title: figure title.
        axes: existing axes, one per metric.
        figsize: figure size when creating one.

    Returns:
        matplotlib Figure.

    Example:
        >>> fig = plot_history({"loss": [1.0, 0.6], "val_loss": [1.1, 0.8]})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['loss']
    """
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    raw = history.history if hasattr(history, "history") else history
    runs_given = isinstance(raw, dict) and bool(raw) and all(
        hasattr(value, "history") or isinstance(value, dict) for value in raw.values())
    histories = {label: history_dict(h) for label, h in raw.items()} if runs_given else {"": history_dict(raw)}
    names = _metric_names(histories, metrics)
    if not names:
        raise ValueError("plot_history: no metrics to plot")
    if axes is None:
        fig, axes = plt.subplots(1, len(names), figsize=figsize or (4.2 * len(names), 3.2), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, name in zip(axes, names, strict=False):
        for i, (label, hist) in enumerate(histories.items()):
            colour = _colour(i)
            prefix = f"{label} " if label else ""
            for key, style, suffix in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
                if key in hist and len(hist[key]):
                    epochs = np.arange(1, len(hist[key]) + 1)
                    ax.plot(epochs, hist[key], style, color=colour, marker="o", markersize=3,
                            label=f"{prefix}{suffix}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_strategy_comparison(results, metrics=("accuracy", "seconds", "forgetting"), labels=None,
                             title: str | None = None, figsize=None):
    """One bar chart per figure of merit, one bar per strategy (lesson 01's closing figure).

    Args:
        results: ``{strategy: {"accuracy": .., "seconds": .., "forgetting": ..}}`` or a list of
            dicts with a ``"strategy"`` key.
        metrics: keys to draw, one panel each.
        labels: panel titles per metric (default: built-in ones for accuracy, seconds,
            forgetting, else the key).
        title: figure title.

    Returns:
        matplotlib Figure.

    Example:
        >>> fig = plot_strategy_comparison({"scratch": {"accuracy": 0.4, "seconds": 30, "forgetting": 0},
        ...                                 "frozen": {"accuracy": 0.9, "seconds": 2, "forgetting": 0}})
        >>> len(fig.axes)
        3
    """
    plt = _plt()
    if isinstance(results, list | tuple):
        results = {row["strategy"]: row for row in results}
    if not results:
        raise ValueError("plot_strategy_comparison: no results")
    default_labels = {"accuracy": "validation accuracy (higher is better)",
                      "seconds": "training time, s (lower is better)",
                      "epoch_seconds": "seconds per epoch, median (lower is better)",
                      "forgetting": "ImageNet answers changed (lower is better)"}
    labels = {**default_labels, **(labels or {})}
    names = list(results)
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize or (4.4 * len(metrics), 0.45 * len(names) + 1.6),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = [float(results[name].get(metric, float("nan"))) for name in names]
        y = np.arange(len(names))
        ax.barh(y, values, color=[_colour(i) for i in range(len(names))])
        ax.set_yticks(y, names if ax is axes[0][0] else [""] * len(names))
        ax.invert_yaxis()
        ax.set_title(labels.get(metric, metric), fontsize=10)
        finite = [v for v in values if math.isfinite(v)]
        top = max(finite) if finite else 1.0
        is_share = metric in ("accuracy", "forgetting") or (finite and max(finite) <= 1.0 and min(finite) >= 0)
        for yi, value in zip(y, values, strict=True):
            if math.isfinite(value):
                text = f"{value:.0%}" if is_share else f"{value:.3g}"
                ax.text(value + top * 0.02, yi, text, va="center", fontsize=8)
        # accuracy on its full 0..1 scale; anything else (time, forgetting) scaled to its largest bar
        ax.set_xlim(0, (1.0 if metric == "accuracy" else max(top, 1e-9)) * 1.2)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lr_finder(result, ax=None, title: str | None = "learning-rate finder"):
    """Loss against learning rate (log scale), with the steepest point and the good range.

    Args:
        result: an :class:`ftlab.lr.LRFinderResult`.
        ax: axes to draw on (default: a new figure).

    Returns:
        matplotlib Figure.
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    ax.plot(result.learning_rates, result.losses, color="#bbbbbb", lw=1, label="batch loss")
    ax.plot(result.learning_rates, result.smoothed, color=_colour(0), lw=2, label="smoothed loss")
    low, high = result.good_range
    ax.axvspan(low, high, color=_colour(2), alpha=0.15, label=f"good range {low:.0e}–{high:.0e}")
    ax.axvline(result.suggestion, color=_colour(2), ls="--", label=f"steepest fall {result.suggestion:.1e}")
    ax.axvline(result.min_loss_lr, color=_colour(3), ls=":", label=f"lowest loss {result.min_loss_lr:.1e}")
    ax.set_xscale("log")
    finite = result.smoothed[np.isfinite(result.smoothed)]
    if len(finite):
        lowest, first = float(finite.min()), float(finite[0])
        ax.set_ylim(lowest - 0.1 * abs(first - lowest) - 1e-3, max(first, lowest) * 1.3 + 1e-3)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, labels=None, class_names=None, predictions=None, ncols: int = 8, size: float = 1.4,
               title: str | None = None, max_images: int = 64):
    """A grid of images, each titled with its label (and prediction: green right, red wrong).

    Args:
        images: ``(n, h, w, 3)`` uint8 or floats in 0..255 (or 0..1).
        labels: optional integer labels (or strings).
        class_names: names for integer labels.
        predictions: optional predicted labels (integers, or probabilities ``(n, classes)``).
        ncols: images per row.
        size: inches per image.
        title: figure title.
        max_images: at most this many are drawn.

    Returns:
        matplotlib Figure.

    Example:
        >>> fig = image_grid(np.zeros((3, 8, 8, 3), np.uint8), labels=[0, 1, 1], class_names=["a", "b"])
        >>> [ax.get_title() for ax in fig.axes if ax.get_title()]
        ['a', 'b', 'b']
    """
    plt = _plt()
    images = np.asarray(images)[:max_images]
    n = len(images)
    if n == 0:
        raise ValueError("image_grid: no images")
    if images.dtype != np.uint8:
        scale = 255.0 if images.max() <= 1.0 else 1.0
        images = np.clip(images * scale, 0, 255).astype(np.uint8)
    if predictions is not None:
        predictions = np.asarray(predictions)
        if predictions.ndim == 2:
            predictions = predictions.argmax(-1)

    def name(value):
        if class_names is not None and not isinstance(value, str):
            return str(class_names[int(value)])
        return str(value)

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    extra = 0.35 if labels is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + extra) * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i])
        if labels is not None:
            text, colour = name(labels[i]), "black"
            if predictions is not None:
                right = name(predictions[i]) == name(labels[i])
                text = text if right else f"{name(predictions[i])} ({text})"
                colour = "green" if right else "red"
            ax.set_title(text, fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
