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

The estimates, and what they are based on, are explained in :mod:`ftlab.widgets.costs`.
"""

from __future__ import annotations

import html

import lazy_loader

# Imported on first use: the live view needs Keras, the network map anywidget.
__getattr__, _lazy_dir, _lazy_all = lazy_loader.attach(
    __name__, submodules=["live", "network_map", "plan"],
    submod_attrs={"live": ["LiveTrainingView"], "network_map": ["NetworkMap"]})

from ftlab.widgets.costs import READOUT_PREFIX, CostEstimate, CostModel, _is_batchnorm  # noqa: E402, F401

SLIDER_DESCRIPTION = "unfreeze top k"
BATCHNORM_DESCRIPTION = "BatchNorm stays frozen"


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
