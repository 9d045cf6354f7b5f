"""The live training view: a Keras callback that redraws loss and accuracy curves as each epoch ends.

Imported on first use of ``ftlab.widgets.LiveTrainingView`` (it needs Keras; the rest of
:mod:`ftlab.widgets` does not).
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from ftlab.widgets import _in_notebook


class LiveTrainingView(keras.callbacks.Callback):
    """Loss and accuracy curves drawn as each epoch ends: a Keras callback.

    ``ftlab.widgets.LiveTrainingView(...)``. In a notebook one figure is shown and updated in
    place (training solid, validation dashed); elsewhere (or with ``print_lines=True``) one
    line per epoch is printed. The same view can follow several ``fit`` calls (e.g. the two
    phases of fine-tuning): its curves continue; call :meth:`reset` to start over.

    Args:
        metrics: metric names to draw (each with its ``val_`` twin when present).
        title: figure title.
        print_lines: print a line per epoch (default: only outside a notebook).
        figsize: figure size.
        min_interval: redraw at most this often, in seconds (the last epoch is always drawn).

    Attributes:
        history: ``{metric: [value per epoch]}`` seen so far.
        epoch_seconds: training time of each epoch (wall time less fit's validation pass);
            ``median_epoch_seconds`` their median.
        figure: the matplotlib figure (after the first epoch).

    Example:
        >>> view = ftlab.widgets.LiveTrainingView(title="fine-tuning")  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=5, callbacks=[view], verbose=0)  # doctest: +SKIP
    """

    def __init__(self, metrics=("loss", "accuracy"), title: str | None = None, print_lines: bool | None = None,
                 figsize=None, min_interval: float = 1.0):
        super().__init__()
        self.metrics = tuple(metrics)
        self.min_interval = float(min_interval)
        self.epoch_seconds: list = []
        self._epoch_started = None
        self._test_started = None
        self._validation_seconds = 0.0
        self._last_draw = -math.inf
        self.title = title
        self.print_lines = (not _in_notebook()) if print_lines is None else bool(print_lines)
        self.figsize = figsize or (4.2 * len(self.metrics), 3.0)
        self.history: dict = {}
        self.figure = None
        self._handle = None
        self._epoch = 0
        self._started = None

    def reset(self) -> None:
        """Forget the curves and timings (the next ``fit`` starts a new figure)."""
        self.history, self.figure, self._handle, self._epoch = {}, None, None, 0
        self.epoch_seconds, self._last_draw = [], -math.inf

    @property
    def median_epoch_seconds(self) -> float:
        """Median training time of the epochs seen, validation excluded (the first one includes tracing; the
        median mostly doesn't)."""
        return float(np.median(self.epoch_seconds)) if self.epoch_seconds else float("nan")

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()
        self._validation_seconds = 0.0

    # fit's validation_data pass runs inside the epoch and calls these: its time is not training time
    def on_test_begin(self, logs=None):
        self._test_started = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._test_started is not None and self._epoch_started is not None:
            self._validation_seconds += time.perf_counter() - self._test_started
        self._test_started = None

    def on_train_end(self, logs=None):
        self.draw()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._epoch_started is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started - self._validation_seconds)
        self._epoch += 1
        for key, value in logs.items():
            try:
                self.history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                continue
        if self.print_lines:
            parts = [f"{key} {self.history[key][-1]:.4f}" for key in self._shown_keys()]
            elapsed = time.perf_counter() - self._started if self._started else 0.0
            print(f"epoch {self._epoch}: " + " · ".join(parts) + f" ({elapsed:.1f} s)")
        # Redraw at most every min_interval seconds (rendering a figure costs ~0.1 s); the last
        # epoch is always drawn by on_train_end.
        if time.perf_counter() - self._last_draw >= self.min_interval:
            self.draw()

    def _shown_keys(self) -> list[str]:
        keys = []
        for metric in self.metrics:
            keys.extend(key for key in (metric, f"val_{metric}") if key in self.history)
        return keys

    def draw(self):
        """Redraw the curves (in place in a notebook); returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        from ftlab import plots

        metrics = [m for m in self.metrics if m in self.history or f"val_{m}" in self.history]
        if not metrics:
            return None
        self._last_draw = time.perf_counter()
        if self.figure is None:
            self.figure, axes = plt.subplots(1, len(self.metrics), figsize=self.figsize, squeeze=False)
            plt.close(self.figure)  # shown through display(), not by the inline backend at cell end
        axes = self.figure.axes
        for ax in axes:
            ax.clear()
        plots.plot_history(self.history, metrics=metrics, title=self.title, axes=axes[:len(metrics)])
        if _in_notebook():
            import io

            from IPython.display import Image, display

            # A PNG rendered here shows the same under any matplotlib backend (inline, Agg, widget).
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
            image = Image(data=buffer.getvalue(), format="png")
            if self._handle is None:
                self._handle = display(image, display_id=True)
            else:
                self._handle.update(image)
        return self.figure
