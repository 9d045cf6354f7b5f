"""The network map: a backbone drawn as a strip of blocks you click to freeze or train.

Introduced in lesson 00 (used again in lessons 01 and 03). An `anywidget
<https://anywidget.dev>`_ widget, so it renders in JupyterLab, Notebook 7, VS Code and Colab
(on Colab, run ``google.colab.output.enable_custom_widget_manager()`` first: each lesson's
first cell does). Where custom widgets are off, :class:`ftlab.widgets.FreezePanel` is the
ipywidgets fallback, and ``print(network_map)`` works anywhere.

The strip runs stem → stages → head (or embeddings → transformer layers → final norm for a
KerasHub language model); each block's width grows with its parameters, its shade says frozen,
trainable, or trainable with BatchNorm frozen (LoRA for a language model). Click a block or a
stage label to toggle it, drag the "unfreeze top k" slider, read the exact trainable count and
the estimated seconds per epoch and peak memory, and copy the plain Keras code that does the
same. **Apply** sets the ``trainable`` flags (through :mod:`ftlab.freeze` for images); it never
compiles: run the ``compile`` line of the code, as Keras requires after changing ``trainable``.

Example:
    >>> network_map = ftlab.widgets.NetworkMap(classifier, n_train=120)  # doctest: +SKIP
    >>> network_map  # the map, in a notebook  # doctest: +SKIP
    >>> network_map.select_top(2); network_map.apply()  # stage7 + head train  # doctest: +SKIP
    >>> classifier.fit(..., callbacks=[network_map.callback()])  # blocks light up while fitting  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from ftlab.widgets.plan import make_plan

_HERE = Path(__file__).parent
SLIDER_DESCRIPTION = "unfreeze top k"


class NetworkMap(anywidget.AnyWidget):
    """Choose what trains on a picture of the network; see exact counts, cost and Keras code.

    Args:
        model: an image backbone or a classifier containing one, or a KerasHub ``CausalLM``
            (or backbone) with ``transformer_layer_N`` layers.
        variable: the model's name in your notebook, used in the Keras code (``"model"``).
        by: image models: the slider counts ``"stage"`` (default) or ``"block"`` units.
        n_train, n_val, batch_size: images per epoch and per step, for the estimates.
        steps_per_epoch, sequence_length: language models: steps per epoch, tokens per window.
        keep_batchnorm_frozen: initial state of the BatchNorm switch.
        method: language models: ``"lora"`` (default) or ``"full"``; ``rank``: LoRA rank.
        learning_rate: the rate written in the code's ``compile`` line (default: the model's own).

    Traits (synced with the page, usable from code): ``selected`` (blocks that train),
    ``top_k``, ``batchnorm_frozen``, ``method``, ``rank``, ``readout`` (``trainable``,
    ``total``, ``lines``), ``code``, ``status``, ``training`` (blocks lit while fitting), ``history``.
    """

    _esm = _HERE / "network_map.js"
    _css = _HERE / "network_map.css"

    kind = traitlets.Unicode("image").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    blocks = traitlets.List().tag(sync=True)
    stages = traitlets.List().tag(sync=True)
    unit_count = traitlets.Int(0).tag(sync=True)
    unit_name = traitlets.Unicode("stages").tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    top_k = traitlets.Int(0).tag(sync=True)
    batchnorm_frozen = traitlets.Bool(True).tag(sync=True)
    method = traitlets.Unicode("full").tag(sync=True)
    rank = traitlets.Int(4).tag(sync=True)
    readout = traitlets.Dict().tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("not applied yet: the model is unchanged").tag(sync=True)
    training = traitlets.Bool(False).tag(sync=True)
    history = traitlets.Dict().tag(sync=True)
    epoch_text = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model, variable: str = "model", by: str = "stage", n_train: int = 1000, n_val: int = 0,
                 batch_size: int | None = None, steps_per_epoch: int = 100, sequence_length: int = 128,
                 keep_batchnorm_frozen: bool = True, method: str | None = None, rank: int = 4,
                 learning_rate: float | None = None):
        plan = make_plan(model, by=by, n_train=n_train, n_val=n_val, steps_per_epoch=steps_per_epoch,
                         sequence_length=sequence_length,
                         batch_size=batch_size or (2 if _is_lm(model) else 32))
        self.plan, self.model, self.variable, self.learning_rate = plan, model, variable, learning_rate
        self._syncing = False
        self._applied = None  # (choice, status, trainable) of the last apply()
        current = plan.current()
        if plan.kind == "lm":
            method = method or "lora"
            rank = plan.lora_rank or rank
        super().__init__(kind=plan.kind, title=f"{model.name}", blocks=plan.blocks, stages=plan.stages,
                         unit_count=len(plan.units), unit_name="layers" if plan.kind == "lm" else f"{by}s",
                         selected=current, batchnorm_frozen=bool(keep_batchnorm_frozen),
                         method=method or "full", rank=int(rank))
        self.top_k = self._top_k_of(self.selected) or 0
        self.observe(self._on_selected, names="selected")
        self.observe(self._on_top_k, names="top_k")
        self.observe(lambda change: self._refresh(), names=["batchnorm_frozen", "method", "rank"])
        self.on_msg(self._on_message)
        self._refresh()

    # ---- state ------------------------------------------------------------------------------
    def _top_k_of(self, selected) -> int | None:
        chosen = set(selected)
        for k in range(len(self.plan.units) + 1):
            top = {name for unit in self.plan.units[len(self.plan.units) - k:] for name in unit} if k else set()
            if top == chosen:
                return k
        return None

    def _on_top_k(self, change) -> None:
        if self._syncing:
            return
        k = max(0, min(int(change["new"]), len(self.plan.units)))
        top = {name for unit in self.plan.units[len(self.plan.units) - k:] for name in unit} if k else set()
        self._syncing = True
        try:
            self.selected = [name for name in self.plan.block_names if name in top]
        finally:
            self._syncing = False
        self._refresh()

    def _on_selected(self, change) -> None:
        if self._syncing:
            return
        ordered = [name for name in self.plan.block_names if name in set(change["new"])]
        self._syncing = True
        try:
            if ordered != list(change["new"]):
                self.selected = ordered
            k = self._top_k_of(ordered)
            if k is not None:
                self.top_k = k
        finally:
            self._syncing = False
        self._refresh()

    def _refresh(self) -> None:
        args = (self.selected, self.batchnorm_frozen, self.method, self.rank)
        self.readout = self.plan.readout(*args)
        self.code = self.plan.code(*args, variable=self.variable, learning_rate=self.learning_rate)
        if self._applied is None:
            return
        choice, message, trainable = self._applied
        self.status = message if choice == self._choice() else (
            f"changed since Apply: the model still trains {trainable:,} parameters until you press Apply")

    def _choice(self) -> tuple:
        return (tuple(self.selected), self.batchnorm_frozen, self.method, self.rank)

    def toggle(self, name: str) -> list[str]:
        """Toggle a block, or every block of a stage (what a click on the page does)."""
        stage = next((s["blocks"] for s in self.plan.stages if s["name"] == name), None)
        names = stage if stage is not None else [name]
        unknown = [n for n in names if n not in self.plan.block_names]
        if unknown:
            from ftlab.errors import ModelError

            raise ModelError(f"no block or stage {name!r}; blocks: {', '.join(self.plan.block_names)}")
        chosen = set(self.selected)
        if all(n in chosen for n in names):
            chosen -= set(names)
        else:
            chosen |= set(names)
        self.selected = [n for n in self.plan.block_names if n in chosen]
        return self.selected

    def select_top(self, k: int) -> list[str]:
        """Select the top ``k`` units (stages, blocks or transformer layers), as the slider does."""
        self.top_k = int(k)
        if self._top_k_of(self.selected) != int(k):  # top_k unchanged: the observer did not fire
            self._on_top_k({"new": int(k)})
        return self.selected

    @property
    def trainable_count(self) -> int:
        """Exact trainable parameters for the selection on the map (applied or not)."""
        return int(self.readout["trainable"])

    # ---- actions ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widget and let go of the model, so ``del model`` can free it.

        Jupyter keeps a widget's message callbacks until the kernel ends, so a closed map would
        otherwise keep its model alive.
        """
        super().close()
        self.plan = self.model = None

    def apply(self) -> list[str]:
        """Set ``trainable`` on the model as the map shows. It does not compile: run the code's compile line."""
        from ftlab import freeze

        self.plan.apply(self.selected, self.batchnorm_frozen, self.method, self.rank)
        trainable, _ = freeze.count_params(self.model)
        self.status = (f"applied: {trainable:,} trainable parameters. Now compile again "
                       f"({self.variable}.compile(...), last line of the code) before fit")
        self._applied = (self._choice(), self.status, trainable)
        self._refresh()
        return list(self.selected)

    def _on_message(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "apply":
            try:
                self.apply()
            except Exception as error:  # shown on the page rather than lost in the kernel log
                self.status = f"could not apply: {error}"

    def callback(self, metrics=("loss", "accuracy")):
        """A Keras callback: while ``fit`` runs, the training blocks light up and the curves grow."""
        import keras

        network_map = self

        class _MapCallback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                network_map.training = True
                network_map.epoch_text = "training…"

            def on_epoch_end(self, epoch, logs=None):
                history = {key: list(values) for key, values in network_map.history.items()}
                for key, value in (logs or {}).items():
                    if any(key in (m, f"val_{m}") for m in metrics):
                        history.setdefault(key, []).append(float(value))
                network_map.history = history
                shown = " · ".join(f"{k} {v[-1]:.3f}" for k, v in history.items())
                network_map.epoch_text = f"epoch {epoch + 1}: {shown}"

            def on_train_end(self, logs=None):
                network_map.training = False

        return _MapCallback()

    # ---- display ----------------------------------------------------------------------------
    def text(self) -> str:
        """A plain-text picture of the map (``print(network_map)``)."""
        chosen = set(self.selected)
        rows = [f"Network map of {self.model.name!r}, input → output ([x] trains):"]
        for stage in self.plan.stages:
            marks = " ".join(f"[{'x' if b in chosen else ' '}] {b}" for b in stage["blocks"])
            rows.append(f"  {stage['name']:<12} {marks}")
        rows.append(f"  {SLIDER_DESCRIPTION}: {self.top_k}")
        rows.extend(f"  {line}" for line in self.readout.get("lines", []))
        rows.append("  Keras code:")
        rows.extend(f"    {line}" for line in self.code.splitlines())
        rows.append(f"  {self.status}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.text()


def _is_lm(model) -> bool:
    from ftlab.widgets.plan import is_language_model

    return is_language_model(model)
