"""See what freezing does: the network map, a freeze panel and a live training view.

Introduced in lesson 00 (the map) and lesson 01.

:class:`NetworkMap` (an anywidget, :mod:`ftlab.widgets.network_map`) draws the backbone as a
strip of blocks to click; :class:`FreezePanel` below is its ipywidgets fallback for front ends
where custom widgets are off.

:class:`FreezePanel` shows one checkbox per stage (or block) of a backbone, a slider
"unfreeze top k", a "BatchNorm stays frozen" switch, and live read-outs of the trainable
parameters, an estimate of seconds per epoch and of peak memory for the choice on screen.
Nothing changes in the model until **Apply**, which sets ``trainable`` through
:mod:`ftlab.freeze` and never compiles: under the button the panel shows the plain Keras code
that does the same, ending with the ``compile`` line you run next. Everything can be driven from code (``panel.top_k.value = 2``,
``panel.apply()``), which is how the tests and the lesson's exercises use it.

:func:`LiveTrainingView` is a Keras callback that redraws loss/accuracy curves as each epoch
ends (one figure, updated in place) and prints one line per epoch where no notebook front end
can show figures.

Where widgets cannot render (a terminal, a static notebook viewer) the panel shows a plain-text
summary instead, and ``print(panel)`` gives the same text anywhere.

About the estimates (never presented as measurements):

* **Seconds per epoch** by default come from this project's DESIGN notes §2 figures, measured on
  2 CPU cores with TensorFlow 2.21: EfficientNet-B0 at 224 px infers 78 images/s and fully
  fine-tunes at 12.5 images/s, and a head on cached features trains at ~21,000 images/s. They
  are scaled by the model's multiply-adds (computed from its layers' shapes) and by the share of
  multiply-adds that back-propagation must reach (everything above the lowest trainable layer).
  :meth:`FreezePanel.calibrate` replaces both anchors with a measurement of *this* model on
  *this* machine (a few batches, ~10 s) and the read-out then says "calibrated".
* **Peak memory** comes from a formula fitted to peak RSS measured on this project's machine
  for EfficientNet-Lite0 classifiers (batch 32; frozen 96 px 0.90 GB, 224 px 1.25 GB; full
  fine-tuning 96 px 1.28 GB, 160 px 1.61 GB, 224 px 2.19 GB; top 5 blocks at 96 px 1.01 GB): a
  fixed runtime cost, a forward-pass cost proportional to batch × pixels, and for training a
  term growing with the activations kept for back-propagation. It is an estimate for other
  backbones and sizes.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass

import numpy as np

from ftlab.errors import ModelError

# DESIGN.md §2 (EfficientNet-B0, 224 px, batch 32, 2 cores, tensorflow-cpu 2.21).
_B0_MACS_224 = 0.39e9  # EfficientNet-B0 multiply-adds at 224 px (Tan & Le 2019, table 2: 0.39B FLOPs)
DESIGN_ANCHORS = {
    "seconds_per_mac": (1 / 78) / _B0_MACS_224,  # inference: 78 images/s
    "backward_ratio": ((1 / 12.5) - (1 / 78)) / (1 / 78),  # full fine-tune 12.5 images/s → backward ≈ 5.2 × forward
    "cached_head_images_per_second": 21_000.0,
    "basis": "estimate scaled to this model from EfficientNet-B0 measured on 2 CPU cores (TensorFlow 2.21)",
}
# Peak-RSS formula (MB), fitted to the measurements listed in the module docstring.
_MEM_BASE_MB = 820.0
_MEM_FORWARD_MB_PER_PIXEL = 79.5 / (32 * 96 * 96)  # per image pixel in a batch
_MEM_KEPT_SCALE, _MEM_KEPT_POWER = 14.5, 0.53  # MB = scale × (kept activations, MB) ** power
_MEM_BASIS = "estimate fitted to peak RSS measured for EfficientNet-Lite0 (batch 32, 96–224 px)"

SLIDER_DESCRIPTION = "unfreeze top k"
READOUT_PREFIX = "trainable parameters:"
BATCHNORM_DESCRIPTION = "BatchNorm stays frozen"


def _size(variable) -> int:
    return int(np.prod([int(d) for d in variable.shape])) if len(variable.shape) else 1


def _is_batchnorm(layer) -> bool:
    return type(layer).__name__ in ("BatchNormalization", "SyncBatchNormalization")


def _trainable_by_nature(layer) -> list:
    """The weights a layer trains when it is trainable (BatchNorm's moving statistics never are).

    Keras 3 flips every variable's ``trainable`` flag with the layer's, but keeps the lists the
    layer created them in; nested models are walked layer by layer.
    """
    sublayers = getattr(layer, "layers", None)
    if sublayers:
        return [w for sub in sublayers for w in _trainable_by_nature(sub)]
    own = getattr(layer, "_trainable_variables", None)
    if own is not None:
        return list(own)
    return [w for w in layer.weights if w.name not in ("moving_mean", "moving_variance")]


def _layer_macs(layer) -> int:
    """Multiply-adds of one call of a convolution or dense layer (0 for the others)."""
    try:
        out_shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    macs = 0
    for weight in layer.weights:
        if weight.name not in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            continue
        if len(out_shape) == 4 and len(weight.shape) == 4 and weight.name != "pointwise_kernel":
            spatial = int(out_shape[1] or 0) * int(out_shape[2] or 0)
            macs += spatial * _size(weight)
        elif weight.name == "pointwise_kernel" and len(out_shape) == 4:
            macs += int(out_shape[1] or 0) * int(out_shape[2] or 0) * _size(weight)
        else:
            macs += _size(weight)
    return macs


def _layer_activations(layer) -> int:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    if isinstance(shape, list):
        return 0
    dims = [int(d) for d in shape[1:] if d is not None]
    return int(np.prod(dims)) if dims and len(dims) == len(shape) - 1 else 0


@dataclass
class CostEstimate:
    """What training with a given freeze choice is expected to cost (see the module docstring)."""

    trainable: int
    total: int
    seconds_per_epoch: float
    peak_memory_gb: float
    cached_seconds_per_epoch: float | None
    extraction_seconds: float | None
    time_basis: str
    memory_basis: str

    def lines(self) -> list[str]:
        """The read-out lines, as the panel shows them."""
        share = 100 * self.trainable / max(1, self.total)
        out = [f"{READOUT_PREFIX} {self.trainable:,} of {self.total:,} ({share:.1f}%)"]
        if self.cached_seconds_per_epoch is not None:
            out.append(f"≈ {self.seconds_per_epoch:.1f} s per epoch through the frozen backbone; with cached "
                       f"features ≈ {self.cached_seconds_per_epoch:.2f} s per epoch after a one-off "
                       f"≈ {self.extraction_seconds:.1f} s extraction ({self.time_basis})")
        else:
            out.append(f"≈ {self.seconds_per_epoch:.1f} s per epoch ({self.time_basis})")
        out.append(f"≈ {self.peak_memory_gb:.2f} GB peak memory ({self.memory_basis})")
        return out


class CostModel:
    """Per-group multiply-adds, activations and parameters of a model, for quick estimates.

    Built once from the model's layer shapes (no forward pass), so estimates for any freeze
    choice cost microseconds: what a slider needs.

    Args:
        model: a backbone or a classifier containing one (``ftlab.models.heads.build_classifier``).
        by: ``"stage"`` or ``"block"`` groups (:mod:`ftlab.freeze`).

    Example:
        >>> costs = CostModel(model)  # doctest: +SKIP
        >>> costs.estimate({"stage7", "head"}, n_train=120, n_val=240).lines()[0]  # doctest: +SKIP
        'trainable parameters: 1,029,004 of 3,434,828 (30.0%)'
    """

    def __init__(self, model, by: str = "stage", anchors: dict | None = None):
        from ftlab import freeze

        if by not in ("stage", "block"):
            raise ModelError(f"by={by!r}: use 'stage' or 'block'")
        self.model = model
        self.by = by
        groups = freeze.stage_groups(model) if by == "stage" else freeze.block_groups(model)
        self.classifier_layers = groups.pop(freeze.CLASSIFIER_GROUP, [])
        self.group_names = list(groups)
        self.groups = groups
        self.macs = {name: sum(_layer_macs(layer) for layer in layers) for name, layers in groups.items()}
        self.activations = {name: sum(_layer_activations(layer) for layer in layers) for name, layers in groups.items()}
        self.params = {name: self._eligible(layers, bn_frozen=False) for name, layers in groups.items()}
        self.params_bn_frozen = {name: self._eligible(layers, bn_frozen=True) for name, layers in groups.items()}
        self.classifier_params = self._eligible(self.classifier_layers, bn_frozen=False)
        self.classifier_macs = sum(_layer_macs(layer) for layer in self.classifier_layers)
        self.total_params = int(model.count_params())
        self.total_macs = max(1, sum(self.macs.values()) + self.classifier_macs)
        shape = model.input_shape
        self.pixels = int(shape[1] or 224) * int(shape[2] or 224)
        self.anchors = dict(anchors or DESIGN_ANCHORS)

    @staticmethod
    def _eligible(layers, bn_frozen: bool) -> int:
        """Parameters that become trainable when these layers are unfrozen (moving statistics never do)."""
        count = 0
        for layer in layers:
            if bn_frozen and _is_batchnorm(layer):
                continue
            count += sum(_size(w) for w in _trainable_by_nature(layer))
        return count

    def trainable_count(self, selected, bn_frozen: bool = True) -> int:
        """Trainable parameters once ``selected`` groups (and the classifier's own layers) train."""
        table = self.params_bn_frozen if bn_frozen else self.params
        return self.classifier_params + sum(table[name] for name in selected)

    def estimate(self, selected, bn_frozen: bool = True, n_train: int = 1000, n_val: int = 0,
                 batch_size: int = 32) -> CostEstimate:
        """Trainable parameters, seconds per epoch and peak memory for a freeze choice.

        Args:
            selected: names of the groups that train.
            bn_frozen: BatchNorm layers stay frozen.
            n_train, n_val: images per epoch (training, validation).
            batch_size: images per training step.
        """
        unknown = set(selected) - set(self.group_names)
        selected = [name for name in self.group_names if name in set(selected)]
        if unknown:
            raise ModelError(f"unknown group(s) {sorted(unknown)}; groups: {', '.join(self.group_names)}")
        seconds_per_mac = self.anchors["seconds_per_mac"]
        forward = self.total_macs * seconds_per_mac
        if selected:
            lowest = self.group_names.index(selected[0])
            reached = self.group_names[lowest:]
            share = (sum(self.macs[name] for name in reached) + self.classifier_macs) / self.total_macs
            kept_mb = batch_size * 4 * sum(self.activations[name] for name in reached) / 1e6
        else:
            share, kept_mb = 0.0, 0.0
        per_image_train = forward * (1 + self.anchors["backward_ratio"] * share)
        seconds = n_train * per_image_train + n_val * forward
        cached = extraction = None
        if not selected:
            cached = (n_train + n_val) / self.anchors["cached_head_images_per_second"]
            extraction = (n_train + n_val) * forward
        memory_mb = _MEM_BASE_MB + _MEM_FORWARD_MB_PER_PIXEL * batch_size * self.pixels
        if kept_mb > 0:
            memory_mb += _MEM_KEPT_SCALE * kept_mb**_MEM_KEPT_POWER
        return CostEstimate(trainable=self.trainable_count(selected, bn_frozen), total=self.total_params,
                            seconds_per_epoch=seconds, peak_memory_gb=memory_mb / 1024,
                            cached_seconds_per_epoch=cached, extraction_seconds=extraction,
                            time_basis=self.anchors["basis"], memory_basis=_MEM_BASIS)

    def calibrate(self, batch_size: int = 16, steps: int = 3) -> dict:
        """Measure forward and full fine-tuning time of this architecture on this machine.

        Times ``steps`` batches of inference and of training with every layer trainable on a
        clone of the model (random weights, so the model itself is untouched), and replaces the
        DESIGN anchors with the measured figures.

        Returns:
            the new anchors (``seconds_per_mac``, ``backward_ratio``, ``basis``, plus
            ``forward_ms_per_image`` and ``train_ms_per_image`` as measured).
        """
        import keras

        clone = keras.models.clone_model(self.model)
        clone.trainable = True
        shape = (batch_size, *[int(d or 224) for d in self.model.input_shape[1:]])
        x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
        out = clone.output_shape[-1]
        y = np.zeros((batch_size,), dtype="int32") if out and out > 1 else np.zeros((batch_size, 1), "float32")
        loss = "sparse_categorical_crossentropy" if out and out > 1 else "mse"
        clone.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss, jit_compile=False)
        clone.predict_on_batch(x)
        start = time.perf_counter()
        for _ in range(steps):
            clone.predict_on_batch(x)
        forward = (time.perf_counter() - start) / (steps * batch_size)
        clone.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(steps):
            clone.train_on_batch(x, y)
        train = (time.perf_counter() - start) / (steps * batch_size)
        self.anchors = {
            "seconds_per_mac": forward / self.total_macs,
            "backward_ratio": max(0.0, (train - forward) / forward),
            "cached_head_images_per_second": self.anchors["cached_head_images_per_second"],
            "basis": f"calibrated on this machine: {1000 * forward:.1f} ms/image forward, "
                     f"{1000 * train:.1f} ms/image full fine-tuning (batch {batch_size})",
            "forward_ms_per_image": 1000 * forward,
            "train_ms_per_image": 1000 * train,
        }
        return dict(self.anchors)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where widgets and inline figures can render)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def trainable_groups(model, by: str = "stage") -> list[str]:
    """Backbone groups with at least one trainable weight, input→output order.

    Exercises use it: ``trainable_groups(model) == ["stage7", "head"]``.

    Example:
        >>> ftlab.freeze.unfreeze_top(model, 2)  # doctest: +SKIP
        >>> trainable_groups(model, by="block")  # doctest: +SKIP
        ['block16', 'head']
    """
    from ftlab import freeze

    rows = freeze.trainable_summary(model, by=by)
    return [row["group"] for row in rows if row["trainable"] > 0 and row["group"] != freeze.CLASSIFIER_GROUP]


def batchnorm_frozen(model) -> bool:
    """Whether every BatchNormalization layer in the model is frozen (``trainable=False``).

    Example:
        >>> batchnorm_frozen(model)  # doctest: +SKIP
        True
    """
    from ftlab import freeze

    layers = [layer for group in freeze.block_groups(model).values() for layer in group]
    return all(not layer.trainable_weights for layer in layers if _is_batchnorm(layer))


class FreezePanel:
    """Choose which stages of a backbone train, see what it costs, then apply.

    Controls (ipywidgets 8), all usable from code:

    * ``panel.checkboxes[name]`` — one ``Checkbox`` per stage (or block) group, bottom to top,
      described ``"<name> (<parameters>)"``;
    * ``panel.top_k`` — ``IntSlider`` described ``"unfreeze top k"``: ticks the top k groups;
    * ``panel.batchnorm`` — ``Checkbox`` ``"BatchNorm stays frozen"``;
    * ``panel.readout`` — ``Label`` whose text starts ``"trainable parameters:"``, plus
      ``panel.time_readout`` and ``panel.memory_readout`` (estimates, labelled as such);
    * ``panel.apply_button`` — ``Button`` "Apply": sets ``trainable`` (same as :meth:`apply`),
      never compiles; ``panel.status`` says what was applied;
    * ``panel.code`` — ``HTML`` under the button: the plain Keras that does what the ticked
      groups say, ``compile`` line included (``panel.code_text()`` as a string).

    Read-outs follow the controls at once; the model changes only on Apply.

    Args:
        model: a backbone or a classifier containing one.
        n_train, n_val: images per epoch, for the time estimate.
        batch_size: for the time and memory estimates.
        by: ``"stage"`` (default; EfficientNet-Lite0: stem, stage1..7, head) or ``"block"``.
        keep_batchnorm_frozen: initial state of the BatchNorm switch.

    Example:
        >>> panel = ftlab.widgets.FreezePanel(model, n_train=120, n_val=240)  # doctest: +SKIP
        >>> panel  # shows the panel in a notebook  # doctest: +SKIP
        >>> panel.top_k.value = 2; panel.apply()  # stage7 + head train  # doctest: +SKIP
    """

    def __init__(self, model, n_train: int = 1000, n_val: int = 0, batch_size: int = 32, by: str = "stage",
                 keep_batchnorm_frozen: bool = True, variable: str = "model"):
        import ipywidgets as w

        from ftlab.widgets.plan import ImagePlan

        self.model, self.variable = model, variable
        self.plan = ImagePlan(model, by=by)
        self.n_train, self.n_val, self.batch_size = int(n_train), int(n_val), int(batch_size)
        self.costs = CostModel(model, by=by)
        self.by = by
        names = self.costs.group_names
        current = set(trainable_groups(model, by=by))
        self._syncing = False
        self.checkboxes = {
            name: w.Checkbox(value=name in current, description=f"{name} ({self.costs.params[name]:,})",
                             indent=False, layout=w.Layout(width="auto"))
            for name in names
        }
        self.top_k = w.IntSlider(value=self._top_k_of(current) or 0, min=0, max=len(names), step=1,
                                 description=SLIDER_DESCRIPTION, continuous_update=True,
                                 style={"description_width": "initial"}, layout=w.Layout(width="420px"))
        self.batchnorm = w.Checkbox(value=bool(keep_batchnorm_frozen), description=BATCHNORM_DESCRIPTION,
                                    indent=False)
        self.readout = w.Label()
        self.time_readout = w.Label()
        self.memory_readout = w.Label()
        self.apply_button = w.Button(description="Apply", button_style="primary",
                                     tooltip="set trainable on the model (then run the compile line)")
        self.status = w.Label(value="not applied yet: the model is unchanged")
        self.code = w.HTML()
        self.top_k.observe(self._on_slider, names="value")
        for box in self.checkboxes.values():
            box.observe(self._on_checkbox, names="value")
        self.batchnorm.observe(lambda change: self._refresh(), names="value")
        self.apply_button.on_click(lambda button: self.apply())
        column = w.VBox(list(self.checkboxes.values())[::-1], layout=w.Layout(border="1px solid #ddd",
                                                                              padding="4px"))
        right = w.VBox([self.top_k, self.batchnorm, self.readout, self.time_readout, self.memory_readout,
                        w.HBox([self.apply_button, self.status]), self.code])
        self.widget = w.HBox([column, right])
        self._refresh()

    # ---- state ------------------------------------------------------------------------------
    @property
    def selected(self) -> list[str]:
        """Groups ticked on the panel, input→output order (not necessarily applied yet)."""
        return [name for name in self.costs.group_names if self.checkboxes[name].value]

    def _top_k_of(self, selected) -> int | None:
        """k when ``selected`` is exactly the top k groups, else None."""
        names = self.costs.group_names
        k = len(selected)
        return k if set(names[len(names) - k:]) == set(selected) else None

    def _on_slider(self, change) -> None:
        if self._syncing:
            return
        names = self.costs.group_names
        top = set(names[len(names) - int(change["new"]):]) if change["new"] else set()
        self._syncing = True
        try:
            for name, box in self.checkboxes.items():
                box.value = name in top
        finally:
            self._syncing = False
        self._refresh()

    def _on_checkbox(self, change) -> None:
        if self._syncing:
            return
        k = self._top_k_of(self.selected)
        if k is not None and k != self.top_k.value:
            self._syncing = True
            try:
                self.top_k.value = k
            finally:
                self._syncing = False
        self._refresh()

    def estimate(self) -> CostEstimate:
        """The read-outs' figures for the choice on the panel."""
        return self.costs.estimate(self.selected, bn_frozen=self.batchnorm.value, n_train=self.n_train,
                                   n_val=self.n_val, batch_size=self.batch_size)

    def code_text(self) -> str:
        """Plain Keras that sets the ticked groups' ``trainable`` flags, then compiles."""
        members = {stage["name"]: stage["blocks"] for stage in self.plan.stages} if self.by == "stage" else {}
        blocks = [block for name in self.selected for block in members.get(name, [name])]
        return self.plan.code(blocks, batchnorm_frozen=self.batchnorm.value, variable=self.variable)

    def _refresh(self) -> None:
        lines = self.estimate().lines()
        self.readout.value, self.time_readout.value, self.memory_readout.value = lines
        self.code.value = f"<pre style='font-size: 11px'>{html.escape(self.code_text())}</pre>"

    # ---- actions ----------------------------------------------------------------------------
    def apply(self) -> list[str]:
        """Set ``trainable`` on the model as the panel shows; compiling is yours (the code's last line).

        Freezes the whole backbone, then unfreezes the ticked groups (BatchNorm frozen or not as
        the switch says) through :mod:`ftlab.freeze`.

        Returns:
            the groups now trainable.
        """
        from ftlab import freeze

        selected = self.selected
        self.plan.apply(selected, self.batchnorm.value)
        trainable, _ = freeze.count_params(self.model)
        self.status.value = (f"applied: {', '.join(selected) or 'backbone frozen'}; {trainable:,} trainable; "
                             f"now compile ({self.variable}.compile(...), last line of the code) before fit")
        self._refresh()
        return selected

    def calibrate(self, batch_size: int = 16, steps: int = 3) -> dict:
        """Measure this model's speed here and base the time read-out on it (see :class:`CostModel`)."""
        anchors = self.costs.calibrate(batch_size=batch_size, steps=steps)
        self._refresh()
        return anchors

    # ---- display ----------------------------------------------------------------------------
    def text(self) -> str:
        """A plain-text picture of the panel (what is shown where widgets cannot render)."""
        rows = [f"Freeze panel for {self.model.name!r} ({self.by} groups, top of the network first):"]
        for name in self.costs.group_names[::-1]:
            mark = "x" if self.checkboxes[name].value else " "
            rows.append(f"  [{mark}] {name:<10} {self.costs.params[name]:>12,} parameters")
        rows.append(f"  {SLIDER_DESCRIPTION}: {self.top_k.value}   {BATCHNORM_DESCRIPTION}: "
                    f"{'yes' if self.batchnorm.value else 'no'}")
        rows.extend(f"  {line}" for line in self.estimate().lines())
        rows.append(f"  {self.status.value}")
        rows.append("  Keras code:")
        rows.extend(f"    {line}" for line in self.code_text().splitlines())
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) if _in_notebook() else {}
        bundle = dict(bundle or {})
        bundle["text/plain"] = self.text()
        return bundle


# --------------------------------------------------------------------------------------------
# Live training view


class _LiveTrainingViewBase:
    """Logic of :class:`LiveTrainingView`, free of Keras so it can be tested and reused."""

    def __init__(self, metrics=("loss", "accuracy"), title: str | None = None, print_lines: bool | None = None,
                 figsize=None, min_interval: float = 1.0):
        self.metrics = tuple(metrics)
        self.min_interval = float(min_interval)
        self.epoch_seconds: list = []
        self._epoch_started = None
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
        """Median wall time of the epochs seen (the first one includes tracing; the median mostly doesn't)."""
        return float(np.median(self.epoch_seconds)) if self.epoch_seconds else float("nan")

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_train_end(self, logs=None):
        self.draw()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._epoch_started is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started)
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


_LIVE_CLASS = None


def _live_training_view_class():
    global _LIVE_CLASS
    if _LIVE_CLASS is None:
        import keras

        class LiveTrainingView(_LiveTrainingViewBase, keras.callbacks.Callback):
            __doc__ = _LIVE_DOC

            def __init__(self, metrics=("loss", "accuracy"), title: str | None = None,
                         print_lines: bool | None = None, figsize=None, min_interval: float = 1.0):
                keras.callbacks.Callback.__init__(self)
                _LiveTrainingViewBase.__init__(self, metrics, title, print_lines, figsize, min_interval)

        LiveTrainingView.__module__ = __name__
        _LIVE_CLASS = LiveTrainingView
    return _LIVE_CLASS


_LIVE_DOC = """Loss and accuracy curves drawn as each epoch ends: a Keras callback.

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
        epoch_seconds: wall time of each epoch; ``median_epoch_seconds`` their median.
        figure: the matplotlib figure (after the first epoch).

    Example:
        >>> view = ftlab.widgets.LiveTrainingView(title="fine-tuning")  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=5, callbacks=[view], verbose=0)  # doctest: +SKIP
    """


def __getattr__(name: str):
    if name == "LiveTrainingView":
        return _live_training_view_class()
    if name == "NetworkMap":  # anywidget is imported only when the map is asked for
        from ftlab.widgets.network_map import NetworkMap

        return NetworkMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
