"""A sampling panel: one prompt, four decoding strategies side by side, for one or more models.

Introduced in lesson 03. Works three ways: as an ipywidgets 8 panel in Jupyter (sliders for
temperature, top-k, top-p, length and seed; samples refresh when a control changes), as plain
printed text where widgets cannot render (:meth:`SamplingPanel.show` falls back by itself), and
from code (:meth:`SamplingPanel.samples`, used by the tests).

Example:
    >>> panel = SamplingPanel({"pretrained": base_lm, "fine-tuned": legal_lm})  # doctest: +SKIP
    >>> panel.show()  # doctest: +SKIP
"""

from __future__ import annotations

import html
import textwrap

from ftlab.text import generate
from ftlab.text.model import max_length_of


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class SamplingPanel:
    """Continuations of one prompt by each model, with greedy, temperature, top-k and top-p decoding.

    Args:
        models: a causal LM, or ``{name: causal LM}`` to compare models row by row.
        prompt: the text to continue.
        max_length: total tokens (start marker and prompt included).
        temperature: temperature of the three sampling strategies (greedy ignores it).
        top_k: k of the top-k column.
        top_p: p of the top-p column.
        seed: sampling seed (the same seed gives the same samples).
    """

    def __init__(self, models, prompt: str = "Permission is hereby granted", max_length: int = 160,
                 temperature: float = 0.8, top_k: int = 10, top_p: float = 0.9, seed: int = 0):
        self.models = models if isinstance(models, dict) else {"model": models}
        self.prompt, self.max_length, self.seed = prompt, int(max_length), int(seed)
        self.temperature, self.top_k, self.top_p = float(temperature), int(top_k), float(top_p)
        self._widget = None
        self._last, self._last_key = None, None

    def strategies(self) -> dict:
        """``{column name: generate() settings}`` from the current controls."""
        t = self.temperature
        return {
            "greedy": {"temperature": 0.0},
            f"temperature {t:g}": {"temperature": t},
            f"top-k {self.top_k} (T={t:g})": {"temperature": t, "top_k": self.top_k},
            f"top-p {self.top_p:g} (T={t:g})": {"temperature": t, "top_p": self.top_p},
        }

    def _key(self):
        return (self.prompt, self.max_length, self.seed, self.temperature, self.top_k, self.top_p)

    def samples(self) -> dict:
        """``{model name: {strategy: continuation}}`` for the current settings (remembered until they change)."""
        if self._last is None or self._last_key != self._key():
            strategies = self.strategies()
            self._last = {name: generate.side_by_side(lm, self.prompt, strategies, self.max_length, self.seed)
                          for name, lm in self.models.items()}
            self._last_key = self._key()
        return self._last

    def text(self, samples: dict | None = None, width: int = 100) -> str:
        """The samples as plain text, one block per model and strategy (line breaks shown as ↵)."""
        samples = samples or self._last or self.samples()
        lines = [f"prompt: {self.prompt!r}"]
        for name, row in samples.items():
            lines.append(f"── {name} " + "─" * max(0, width - len(name) - 4))
            for strategy, continuation in row.items():
                # Line breaks shown as ↵ so a run of them (a common loop) stays visible.
                shown = continuation.replace("\r", "").replace("\n", "↵ ").replace("\t", " ")
                body = textwrap.fill(shown if shown.strip() else "(stopped at once)", width=width - 4,
                                     initial_indent="    ", subsequent_indent="    ",
                                     replace_whitespace=False, drop_whitespace=False)
                lines += [f"  {strategy}:", body]
        return "\n".join(lines)

    def html(self, samples: dict | None = None) -> str:
        """The samples as an HTML table: models in rows, strategies in columns."""
        samples = samples or self._last or self.samples()
        strategies = list(next(iter(samples.values())))
        head = "".join(f"<th style='text-align:left'>{html.escape(s)}</th>" for s in strategies)
        rows = []
        for name, row in samples.items():
            cells = "".join(
                "<td style='vertical-align:top;font-family:monospace;white-space:pre-wrap;max-width:22em'>"
                f"<b>{html.escape(self.prompt)}</b>{html.escape(row[s])}</td>" for s in strategies)
            rows.append(f"<tr><th style='vertical-align:top;text-align:left'>{html.escape(name)}</th>{cells}</tr>")
        return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"

    def widget(self):
        """An ipywidgets VBox: controls on top, the side-by-side table below."""
        import ipywidgets as w

        style = {"description_width": "initial"}
        self.controls = {
            "prompt": w.Text(value=self.prompt, description="prompt", layout=w.Layout(width="60%"), style=style),
            "max_length": w.IntSlider(value=self.max_length, min=32, max=min(max_length_of(lm)
                                      for lm in self.models.values()), step=16, description="max length",
                                      continuous_update=False, style=style),
            "temperature": w.FloatSlider(value=self.temperature, min=0.1, max=2.0, step=0.1,
                                         description="temperature", continuous_update=False, style=style),
            "top_k": w.IntSlider(value=self.top_k, min=1, max=50, description="top-k", continuous_update=False,
                                 style=style),
            "top_p": w.FloatSlider(value=self.top_p, min=0.05, max=1.0, step=0.05, description="top-p",
                                   continuous_update=False, style=style),
            "seed": w.IntText(value=self.seed, description="seed", layout=w.Layout(width="10em"), style=style),
        }
        self.button = w.Button(description="Generate", button_style="primary")
        self.status = w.Label()
        self.output = w.HTML()

        def refresh(*_):
            self.prompt = self.controls["prompt"].value
            for key in ("max_length", "temperature", "top_k", "top_p", "seed"):
                setattr(self, key, self.controls[key].value)
            self.status.value = "generating …"
            try:
                self.output.value = self.html(self.samples())
                self.status.value = ""
            except Exception as error:  # shown in the panel, never a traceback in the learner's face
                self.status.value = f"error: {error}"

        for control in self.controls.values():
            if control is not self.controls["prompt"]:
                control.observe(refresh, names="value")
        self.button.on_click(refresh)
        refresh()
        self._widget = w.VBox([
            self.controls["prompt"],
            w.HBox([self.controls["temperature"], self.controls["top_k"], self.controls["top_p"]]),
            w.HBox([self.controls["max_length"], self.controls["seed"], self.button, self.status]),
            self.output,
        ])
        return self._widget

    def close(self) -> None:
        """Close the controls and let go of the models, so their memory can be freed.

        Jupyter keeps every widget it was shown until the widget is closed, and the controls'
        callbacks refer to this panel: without ``close()``, ``del panel`` frees nothing.
        """
        stack = [self._widget] if self._widget is not None else []
        while stack:
            widget = stack.pop()
            stack.extend(getattr(widget, "children", ()))
            widget.close()
        self._widget, self.models, self._last = None, {}, None

    def show(self):
        """Display the widget in Jupyter; print the samples as text anywhere else."""
        if _in_kernel():
            try:
                from IPython.display import display

                display(self.widget())
                return self._widget
            except ImportError:
                pass
        print(self.text(self.samples()))
        return None
