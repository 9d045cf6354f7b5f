"""What the network map draws and does: blocks, exact trainable counts, the Keras code, cost.

Keras-only logic behind :class:`ftlab.widgets.NetworkMap` (no widget here), so it can be
tested headless. Two kinds of model:

* **image backbones** (EfficientNet-Lite0, the ``keras.applications`` families of
  :mod:`ftlab.models.backbones`, or a classifier wrapping one): blocks and stages are those of
  :mod:`ftlab.freeze`; a selection is a set of blocks that train, BatchNorm frozen or not;
* **KerasHub language models** (a ``CausalLM`` or its backbone) whose backbone has
  ``transformer_layer_N`` layers (GPT-2, Llama 3, SmolLM2 …): one block per layer plus the
  embeddings and the final norm; a selection trains layers fully or puts LoRA adapters on them.

Counts are exact: they add up the sizes of the variables Keras will train, and the tests
compare them with ``sum(v.size for v in model.trainable_weights)`` after applying.
"""

from __future__ import annotations

import math
import re

from ftlab.blocks import _group_layers
from ftlab.errors import ModelError
from ftlab.widgets.costs import CostModel, _is_batchnorm, _size

_LM_LAYER = re.compile(r"^transformer_layer_(\d+)$")
# Peak memory and step time of LM fine-tuning, fitted to DESIGN-notes measurements (2 CPU cores,
# batch 2 × 128 tokens, AdamW, float32): GPT-2 base full 1.57 s/step 4.14 GiB, LoRA 1.12 s/step
# 2.11 GiB; SmolLM2-135M LoRA 1.35 s/step 2.42 GiB; the tiny byte LM ~50 ms/step at 8 × 128.
_LM_SECONDS_PER_PARAM_TOKEN = 1.57 / (3 * 124.4e6 * 256)  # a forward pass is ~1/3 of a full step
_LM_STEP_OVERHEAD_S = 0.03
_LM_MEM_BASE_GB = 1.32
_LM_MEM_BYTES_PER_TRAINABLE = 16  # gradient + two Adam moments + a temporary copy, float32
_LM_MEM_GB_PER_LAYER_WIDTH = 3.47e-5  # activations kept per layer × hidden unit, per 256 tokens
LM_TIME_BASIS = "estimate scaled from GPT-2 base measured on 2 CPU cores (TensorFlow 2.21)"
LM_MEMORY_BASIS = "estimate fitted to peak memory measured for GPT-2 base and SmolLM2-135M LoRA"


def is_language_model(model) -> bool:
    """True for a KerasHub model (or backbone) with ``transformer_layer_N`` layers."""
    backbone = getattr(model, "backbone", model)
    return any(_LM_LAYER.match(layer.name) for layer in getattr(backbone, "layers", []))


def _nature(layer) -> list:
    """Variables ``layer`` trains when trainable, sub-layers included (BatchNorm statistics never)."""
    subs = layer._flatten_layers(include_self=True) if hasattr(layer, "_flatten_layers") else [layer]
    found, seen = [], set()
    for sub in subs:
        for variable in getattr(sub, "_trainable_variables", []):
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found


def _group_label(names: list[str], stages: list[dict]) -> str:
    """Short words for a set of blocks: whole stages by their stage name, the rest by block."""
    chosen, words = set(names), []
    for stage in stages:
        inside = [b for b in stage["blocks"] if b in chosen]
        if inside and len(inside) == len(stage["blocks"]):
            words.append(stage["name"])
        else:
            words.extend(inside)
    if len(words) > 4:
        return f"{words[0]} … {words[-1]} ({len(names)} blocks)"
    return ", ".join(words)


def _ranges(indices: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in sorted(indices):
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def compile_line(model, variable: str, learning_rate: float | None = None) -> str:
    """``variable.compile(...)`` as the model was last compiled (public ``get_compile_config``)."""
    config = {}
    if getattr(model, "compiled", False):
        try:
            config = model.get_compile_config() or {}
        except (AttributeError, TypeError, ValueError):
            config = {}
    optimizer = config.get("optimizer") or {}
    name = optimizer.get("class_name", "Adam") if isinstance(optimizer, dict) else str(optimizer).title()
    rate = learning_rate
    if rate is None and isinstance(optimizer, dict):
        found = optimizer.get("config", {}).get("learning_rate")
        rate = found if isinstance(found, int | float) else None
    rate = 1e-4 if rate is None else rate
    parts = [f"optimizer=keras.optimizers.{name}(learning_rate={rate:g})"]
    loss = config.get("loss", "sparse_categorical_crossentropy")
    if isinstance(loss, dict):
        logits = loss.get("config", {}).get("from_logits")
        loss = f"keras.losses.{loss.get('class_name')}({'from_logits=True' if logits else ''})"
    elif loss is not None:
        loss = repr(loss)
    if loss is not None:
        parts.append(f"loss={loss}")
    metrics = config.get("metrics", ["accuracy"] if not config else None)
    if metrics:
        names = [m if isinstance(m, str) else m.get("config", {}).get("name", "") for m in metrics]
        parts.append(f"metrics={[n for n in names if n]!r}")
    return f"{variable}.compile({', '.join(parts)})"


class ImagePlan:
    """Blocks, stages and exact counts of an image backbone (or a classifier containing one)."""

    kind = "image"

    def __init__(self, model, by: str = "stage", n_train: int = 1000, n_val: int = 0, batch_size: int = 32):
        from ftlab import freeze

        self.model, self.by = model, by
        self.n_train, self.n_val, self.batch_size = int(n_train), int(n_val), int(batch_size)
        self.costs = CostModel(model, by="block")
        self.backbone = freeze.find_backbone(model)
        blocks, stage_of = _group_layers(self.backbone)
        self.stages: list[dict] = []
        self.blocks: list[dict] = []
        for name, layers in blocks.items():
            stage = stage_of(name) or name
            if not self.stages or self.stages[-1]["name"] != stage:
                self.stages.append({"name": stage, "blocks": []})
            self.stages[-1]["blocks"].append(name)
            self.blocks.append({"name": name, "stage": stage, "params": self.costs.params[name],
                                "params_bn_frozen": self.costs.params_bn_frozen[name],
                                "has_bn": any(_is_batchnorm(layer) for layer in layers), "kind": "block"})
        self.layer_index = {id(layer): i for i, layer in enumerate(self.backbone.layers)}
        self.block_layers = blocks
        self.units = [s["blocks"] for s in self.stages] if by == "stage" else [[b["name"]] for b in self.blocks]

    @property
    def block_names(self) -> list[str]:
        return [b["name"] for b in self.blocks]

    def current(self) -> list[str]:
        """Blocks of the model that train now."""
        from ftlab.widgets import trainable_groups

        return trainable_groups(self.model, by="block")

    def count(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> int:
        return self.costs.trainable_count(selected, bn_frozen=batchnorm_frozen)

    def readout(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> dict:
        estimate = self.costs.estimate(selected, bn_frozen=batchnorm_frozen, n_train=self.n_train,
                                       n_val=self.n_val, batch_size=self.batch_size)
        return {"trainable": estimate.trainable, "total": estimate.total, "lines": estimate.lines(),
                "seconds_per_epoch": estimate.seconds_per_epoch, "peak_memory_gb": estimate.peak_memory_gb}

    def apply(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> None:
        """Set ``trainable`` through :mod:`ftlab.freeze` (no compile: the notebook compiles)."""
        from ftlab import freeze

        freeze.freeze_all(self.model)
        if selected:
            freeze.unfreeze(self.model, list(selected), keep_batchnorm_frozen=batchnorm_frozen)

    def code(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4,
             variable: str = "model", learning_rate: float | None = None) -> str:
        """Plain Keras that sets the same ``trainable`` flags as :meth:`apply`, then compiles."""
        selected = [name for name in self.block_names if name in set(selected)]
        if self.backbone is self.model:
            lines = [f"backbone = {variable}"]
        else:
            lines = [f"backbone = {variable}.get_layer({self.backbone.name!r})"]
        bn = batchnorm_frozen and any(b["has_bn"] for b in self.blocks if b["name"] in selected)
        flag = "not isinstance(layer, keras.layers.BatchNormalization)" if bn else "True"
        indices = [self.layer_index[id(layer)] for name in selected for layer in self.block_layers[name]]
        spans = _ranges(indices)
        label = _group_label(selected, self.stages)
        if not selected:
            lines.append("backbone.trainable = False  # the whole backbone is frozen; the new head trains")
        elif len(spans) == 1 and spans[0][1] >= len(self.backbone.layers) and spans[0][0] > 1:
            first = spans[0][0]
            frozen = [n for n in self.block_names if n not in selected]
            lines += ["backbone.trainable = True",
                      f"for layer in backbone.layers[:{first}]:  # {_group_label(frozen, self.stages)} stay frozen",
                      "    layer.trainable = False",
                      f"for layer in backbone.layers[{first}:]:  # {label} train",
                      f"    layer.trainable = {flag}"]
        elif len(selected) == len(self.blocks):
            lines += ["backbone.trainable = True",
                      f"for layer in backbone.layers:  # every block trains{'' if bn else ', BatchNorm included'}",
                      f"    layer.trainable = {flag}"]
        else:
            sets = " | ".join(f"set(range({a}, {b}))" for a, b in spans)
            lines += [f"train = {sets}  # layer indices of {label}",
                      "backbone.trainable = True",
                      "for i, layer in enumerate(backbone.layers):",
                      f"    layer.trainable = i in train{' and ' + flag if bn else ''}"]
        if bn:
            lines.insert(1, "# BatchNorm layers stay frozen: they keep normalising with their ImageNet statistics")
        lines += ["# changing `trainable` takes effect only after compiling again:",
                  compile_line(self.model, variable, learning_rate)]
        return "\n".join(lines)


class LanguagePlan:
    """Blocks and exact counts of a KerasHub language model: embeddings, transformer layers, final norm."""

    kind = "lm"

    def __init__(self, model, steps_per_epoch: int = 100, batch_size: int = 2, sequence_length: int = 128):
        self.model = model
        self.backbone = getattr(model, "backbone", model)
        self.steps_per_epoch, self.batch_size = int(steps_per_epoch), int(batch_size)
        self.sequence_length = int(sequence_length)
        targets = set(self.backbone.default_lora_layer_names()) if hasattr(
            self.backbone, "default_lora_layer_names") else {"query", "value"}
        self.blocks, self.layers, self._lora_shapes = [], {}, {}
        for layer in self.backbone.layers:
            if not layer.weights or type(layer).__name__ == "InputLayer":
                continue
            is_layer = bool(_LM_LAYER.match(layer.name))
            kernels = [w for w in layer.weights if is_layer and w.path.split("/")[-1] == "kernel"
                       and len(w.path.split("/")) > 1 and w.path.split("/")[-2] in targets]
            self._lora_shapes[layer.name] = [tuple(int(d) for d in w.shape) for w in kernels]
            self.layers[layer.name] = layer
            first = next((i for i, b in enumerate(self.blocks) if b["kind"] == "layer"), None)
            stage = "transformer" if is_layer else ("embeddings" if first is None else "output")
            self.blocks.append({"name": layer.name, "stage": stage, "kind": "layer" if is_layer else "other",
                                "params": sum(_size(v) for v in _nature(layer)), "has_bn": False,
                                "params_bn_frozen": sum(_size(v) for v in _nature(layer))})
        self.stages: list[dict] = []
        for block in self.blocks:
            if not self.stages or self.stages[-1]["name"] != block["stage"]:
                self.stages.append({"name": block["stage"], "blocks": []})
            self.stages[-1]["blocks"].append(block["name"])
        self.units = [[b["name"]] for b in self.blocks if b["kind"] == "layer"]
        self.total = sum(_size(v) for v in model.weights)
        self.hidden = int(getattr(self.backbone, "hidden_dim", 0) or 0)
        self.lora_rank = self._existing_rank()

    @property
    def block_names(self) -> list[str]:
        return [b["name"] for b in self.blocks]

    def _existing_rank(self) -> int | None:
        for w in self.backbone.weights:
            if w.path.endswith("lora_kernel_b"):
                return int(w.shape[0])
        return None

    def lora_params(self, name: str, rank: int) -> int:
        return sum(math.prod(shape[:-1]) * rank + rank * shape[-1] for shape in self._lora_shapes.get(name, []))

    def current(self) -> list[str]:
        trainable = {id(v) for v in self.model.trainable_weights}
        return [name for name, layer in self.layers.items() if any(id(v) in trainable for v in layer.weights)]

    def current_method(self) -> str:
        return "lora" if any("lora_kernel" in v.path for v in self.model.trainable_weights) else "full"

    def _chosen(self, selected, method):
        chosen = [name for name in self.block_names if name in set(selected)]
        if method == "lora":
            chosen = [name for name in chosen if _LM_LAYER.match(name)]
        return chosen

    def count(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> int:
        chosen = self._chosen(selected, method)
        if method == "lora":
            return sum(self.lora_params(name, rank) for name in chosen)
        return sum(b["params"] for b in self.blocks if b["name"] in chosen)

    def readout(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> dict:
        chosen = self._chosen(selected, method)
        trainable = self.count(chosen, method=method, rank=rank)
        tokens = self.batch_size * self.sequence_length
        layer_names = [b["name"] for b in self.blocks if b["kind"] == "layer"]
        low = min((layer_names.index(n) for n in chosen if n in layer_names), default=None)
        if any(b["stage"] == "embeddings" and b["name"] in chosen for b in self.blocks):
            low = 0  # the embeddings train: back-propagation reaches every layer
        reached = 0.0 if low is None else (len(layer_names) - low) / max(1, len(layer_names))
        full_share = (sum(b["params"] for b in self.blocks if b["name"] in chosen and b["kind"] == "layer")
                      / max(1, sum(b["params"] for b in self.blocks if b["kind"] == "layer"))) if method == "full" else 0
        forward = _LM_SECONDS_PER_PARAM_TOKEN * self.total * tokens
        step = _LM_STEP_OVERHEAD_S + forward * (1 + reached + full_share)
        width = len(layer_names) * reached * self.hidden * tokens / 256
        memory = (_LM_MEM_BASE_GB + 4 * self.total / 2**30 + _LM_MEM_BYTES_PER_TRAINABLE * trainable / 2**30
                  + _LM_MEM_GB_PER_LAYER_WIDTH * width)
        share = 100 * trainable / max(1, self.total)
        what = f"LoRA rank {rank}" if method == "lora" else "full fine-tuning"
        lines = [f"trainable parameters: {trainable:,} of {self.total:,} ({share:.2f}%, {what})",
                 f"≈ {step:.2f} s per step, ≈ {step * self.steps_per_epoch:.0f} s per epoch of "
                 f"{self.steps_per_epoch} steps (batch {self.batch_size} × {self.sequence_length} tokens; "
                 f"{LM_TIME_BASIS})",
                 f"≈ {memory:.2f} GB peak memory ({LM_MEMORY_BASIS})"]
        return {"trainable": trainable, "total": self.total, "lines": lines,
                "seconds_per_epoch": step * self.steps_per_epoch, "peak_memory_gb": memory}

    def apply(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4) -> None:
        """Full: ``layer.trainable`` per layer. LoRA: adapters on every layer once, then only the chosen train."""
        chosen = self._chosen(selected, method)
        self.model.trainable = True
        if method == "lora":
            if self.lora_rank is None:
                self.backbone.enable_lora(int(rank))
                self.lora_rank = int(rank)
            elif self.lora_rank != int(rank):
                raise ModelError(f"this model already has LoRA adapters of rank {self.lora_rank}; "
                                 f"use rank={self.lora_rank}, or load a fresh copy of the model for rank {rank}")
            prefixes = tuple(f"{name}/" for name in chosen)
            for weight in self.backbone.weights:
                weight.trainable = bool(prefixes) and "lora_kernel" in weight.path and weight.path.startswith(prefixes)
        else:
            if self.lora_rank is not None:
                raise ModelError("this model has LoRA adapters: full fine-tuning would train them too; "
                                 "load a fresh copy of the model for full fine-tuning")
            self.backbone.trainable = True
            for layer in self.backbone.layers:
                layer.trainable = layer.name in chosen

    def code(self, selected, batchnorm_frozen: bool = True, method: str = "full", rank: int = 4,
             variable: str = "lm", learning_rate: float | None = None) -> str:
        chosen = self._chosen(selected, method)
        lines = [f"backbone = {variable}.backbone"]
        if method == "lora":
            if self.lora_rank is None:
                lines.append(f"backbone.enable_lora(rank={rank})  # once per model: adapters on every "
                             "layer's query and value; everything else frozen")
            else:
                lines.append(f"# LoRA adapters (rank {self.lora_rank}) are already on this model: "
                             "enable_lora runs once per model")
            lines += [f"adapted = {tuple(f'{n}/' for n in chosen)!r}  # only these layers' adapters train",
                      "for weight in backbone.weights:",
                      "    weight.trainable = \"lora_kernel\" in weight.path and weight.path.startswith(adapted)"]
            if not chosen:
                lines[-3] = "adapted = ()  # no adapter trains"
        else:
            lines += ["backbone.trainable = True",
                      f"train = {chosen!r}",
                      "for layer in backbone.layers:",
                      "    layer.trainable = layer.name in train"]
        lines += ["# changing `trainable` takes effect only after compiling again:",
                  compile_line(self.model, variable, learning_rate)]
        return "\n".join(lines)


def make_plan(model, **kwargs):
    """The plan for ``model``: :class:`LanguagePlan` for KerasHub LMs, else :class:`ImagePlan`."""
    if is_language_model(model):
        keep = {k: v for k, v in kwargs.items() if k in ("steps_per_epoch", "batch_size", "sequence_length")}
        return LanguagePlan(model, **keep)
    keep = {k: v for k, v in kwargs.items() if k in ("by", "n_train", "n_val", "batch_size")}
    return ImagePlan(model, **keep)
