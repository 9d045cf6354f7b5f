"""Block-aware freezing: choose which parts of a pretrained backbone train, and see the result.

Introduced in lesson 01 (used again in lessons 02–04). A backbone is a stack of blocks; these
helpers name them (``block_groups``/``stage_groups``), freeze or unfreeze whole blocks from the
top down, keep BatchNormalization frozen, report trainable parameters per block, and recompile
for you.

Two Keras rules that trip people up (both measured with Keras 3.15 here):

1. **BatchNormalization stays in inference mode.** A pretrained BN layer normalises with the
   ImageNet statistics it learned. Let it see small batches of new data in training mode and it
   swaps those for noisy batch statistics (and overwrites its moving averages): the features
   drift and accuracy collapses in the first steps. The classic advice is to call the base as
   ``backbone(x, training=False)`` (``ftlab.models.heads.build_classifier`` does), but Keras 3.15
   lets ``fit``'s ``training=True`` override that for nested functional models (fixed upstream
   later, keras-team/keras#23364). What always works: a BN layer with ``trainable=False`` runs
   in inference mode whatever ``training`` says. So every function here keeps BN layers frozen
   unless you pass ``keep_batchnorm_frozen=False``.
2. **Recompile after changing ``trainable``.** ``compile`` fixes the list of variables the
   optimizer updates. Freeze a layer without recompiling and ``fit`` keeps training it;
   unfreeze one without recompiling and ``fit`` silently leaves it alone. Compile through
   :func:`compile_model` and every function here recompiles for you (with a fresh optimizer).

Example:
    >>> model = ftlab.models.heads.build_classifier(backbone, num_classes=5)  # doctest: +SKIP
    >>> ftlab.freeze.compile_model(model, learning_rate=1e-3)  # doctest: +SKIP
    >>> ftlab.freeze.freeze_all(model)       # phase 1: only the new head trains  # doctest: +SKIP
    >>> ftlab.freeze.unfreeze_top(model, 3)  # phase 2: head + the top two blocks  # doctest: +SKIP
    >>> ftlab.freeze.print_summary(model)  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ftlab.errors import ModelError

CLASSIFIER_GROUP = "classifier"
_COMPILE_ATTR = "_ftlab_compile_spec"

# --------------------------------------------------------------------------------------------
# Naming the blocks of known architectures


@dataclass(frozen=True)
class _Family:
    name: str
    block_of: Callable[[str], str | None]  # layer name -> block name (None: not recognised)
    stage_of: Callable[[str], str | None]  # block name -> stage name


def _lite0_stage(block: str) -> str | None:
    from ftlab.models.lite0 import BLOCK_STAGE

    return f"stage{BLOCK_STAGE[block]}" if block in BLOCK_STAGE else block


def _lite0_block(name: str) -> str | None:
    match = re.match(r"^(stem|block\d\d|head)_", name)
    return match[1] if match else None


def _efficientnet_block(name: str) -> str | None:
    # keras.applications EfficientNet B0-B7 and V2: stem_*, block1a_* ... block7a_*, top_*
    match = re.match(r"^(stem|block\d+[a-z]|top)_", name)
    if not match:
        return None
    return "head" if match[1] == "top" else match[1]


def _efficientnet_stage(block: str) -> str | None:
    match = re.match(r"^block(\d+)[a-z]$", block)
    return f"stage{match[1]}" if match else block


_MOBILENET_V2_STAGES = (0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6)  # block_0..block_16 → stage-1


def _mobilenet_v2_block(name: str) -> str | None:
    # MobileNetV2: Conv1 (stem), expanded_conv_* (block 0), block_1_* ... block_16_*, Conv_1 + out_relu
    if name.startswith("expanded_conv_"):
        return "block_0"
    match = re.match(r"^block_(\d+)_", name)
    if match:
        return f"block_{match[1]}"
    return "head" if re.match(r"^(Conv_1|out_relu)", name) else None


def _mobilenet_v2_stage(block: str) -> str | None:
    match = re.match(r"^block_(\d+)$", block)
    if match and int(match[1]) < len(_MOBILENET_V2_STAGES):
        return f"stage{_MOBILENET_V2_STAGES[int(match[1])] + 1}"
    return block


def _mobilenet_v3_block(name: str) -> str | None:
    # MobileNetV3: conv (stem), expanded_conv_* (block 0), expanded_conv_1_* ..., conv_1 (head)
    match = re.match(r"^expanded_conv(?:_(\d+))?_", name)
    if match:
        return f"block_{int(match[1] or 0)}"
    return "head" if re.match(r"^conv_1(_bn)?$", name) else None


def _resnet_block(name: str) -> str | None:
    # ResNet / ResNetV2 / DenseNet: conv1_* (stem), convN_blockM_*, post_* / bn / relu (head)
    match = re.match(r"^(conv\d+_block\d+)_", name)
    if match:
        return match[1]
    if re.match(r"^(post_bn|post_relu|bn|relu)$", name):
        return "head"
    return None


def _resnet_stage(block: str) -> str | None:
    match = re.match(r"^(conv\d+)_block\d+$", block)
    return match[1] if match else block


def _convnext_block(name: str) -> str | None:
    match = re.search(r"_stage_(\d+)_block_(\d+)_", name)
    if match:
        return f"stage{match[1]}_block{match[2]}"
    match = re.search(r"_downsampling_block_(\d+)$", name)
    if match:  # the downsampling layer in front of stage i+1
        return f"stage{int(match[1]) + 1}_downsampling"
    return None


def _convnext_stage(block: str) -> str | None:
    match = re.match(r"^(stage\d+)_", block)
    return match[1] if match else block


def _xception_block(name: str) -> str | None:
    match = re.match(r"^(block\d+)_", name)
    return match[1] if match else None


def _xception_stage(block: str) -> str | None:
    match = re.match(r"^block(\d+)$", block)
    if not match:
        return block
    index = int(match[1])
    return "entry_flow" if index <= 4 else "middle_flow" if index <= 12 else "exit_flow"


def _same(block: str) -> str:
    return block


_FAMILIES = (
    _Family("efficientnet_lite0", _lite0_block, _lite0_stage),
    _Family("efficientnet", _efficientnet_block, _efficientnet_stage),
    _Family("mobilenet_v2", _mobilenet_v2_block, _mobilenet_v2_stage),
    _Family("mobilenet_v3", _mobilenet_v3_block, _same),
    _Family("resnet_densenet", _resnet_block, _resnet_stage),
    _Family("convnext", _convnext_block, _convnext_stage),
    _Family("xception", _xception_block, _xception_stage),
)
_GLOBAL_POOLING = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                   "GlobalMaxPooling1D", "GlobalAveragePooling3D", "GlobalMaxPooling3D")


def _is_input(layer) -> bool:
    return type(layer).__name__ == "InputLayer"


def _param_count(layer) -> int:
    return sum(_size(w) for w in layer.weights)


def _size(variable) -> int:
    count = 1
    for dim in variable.shape:
        count *= int(dim)
    return count


def find_backbone(model):
    """The pretrained backbone inside ``model``: a nested model holding most of the weights.

    For a classifier from ``ftlab.models.heads.build_classifier`` that is the backbone it wraps;
    for a backbone (or any flat model) it is ``model`` itself.

    Example:
        >>> find_backbone(classifier).name  # doctest: +SKIP
        'efficientnet_lite0'
    """
    import keras

    total = max(1, sum(_size(w) for w in model.weights))
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        biggest = max(nested, key=_param_count)
        if _param_count(biggest) * 2 > total:
            return biggest
    return model


def _group_layers(backbone) -> tuple[dict[str, list], Callable[[str], str | None]]:
    """Ordered {block: [layers]} and the stage function, for the best-matching family."""
    layers = [layer for layer in backbone.layers if not _is_input(layer)]
    weighted = [layer for layer in layers if layer.weights] or layers
    best, best_hits = None, 0
    for family in _FAMILIES:
        hits = sum(family.block_of(layer.name) is not None for layer in weighted)
        if hits > best_hits:
            best, best_hits = family, hits
    if best is not None and best_hits * 10 >= len(weighted) * 5:
        return _assign(layers, best.block_of), best.stage_of
    if any(re.match(r"^mixed\d+$", layer.name) for layer in layers):
        return _inception_groups(layers), _same
    return _generic_groups(layers), _same


def _assign(layers, block_of) -> dict[str, list]:
    """Walk layers input→output; unrecognised ones join the current group.

    Layers before the first recognised one form ``stem`` (preprocessing included); unrecognised
    layers after the final global pooling form ``head``. Only a pooling among the last few
    layers counts: squeeze-and-excitation blocks pool too, deep inside the network.
    """
    final_pool = None
    for index, layer in enumerate(layers):
        if (type(layer).__name__ in _GLOBAL_POOLING and not getattr(layer, "keepdims", False)
                and index >= len(layers) - 4):
            final_pool = index
    groups: dict[str, list] = {}
    current = "stem"
    for index, layer in enumerate(layers):
        block = block_of(layer.name)
        if block is None and final_pool is not None and index > final_pool:
            block = "head"
        if block is not None:
            current = block
        groups.setdefault(current, []).append(layer)
    return groups


def _inception_groups(layers) -> dict[str, list]:
    """InceptionV3: each ``mixedN`` concatenation closes a group named after it."""
    groups: dict[str, list] = {}
    pending: list = []
    last = None
    for layer in layers:
        pending.append(layer)
        if re.match(r"^mixed\d+$", layer.name):
            groups[layer.name] = pending
            pending, last = [], layer.name
    if pending:
        if last is None:
            groups["stem"] = pending
        else:
            groups[last].extend(pending)
    return groups


def _generic_groups(layers, parts: int = 8) -> dict[str, list]:
    """Unknown architecture: consecutive slices with about equal numbers of weighted layers."""
    weighted = [layer for layer in layers if layer.weights]
    per_part = max(1, -(-len(weighted) // parts))
    groups: dict[str, list] = {}
    seen = 0
    for layer in layers:
        index = min(seen // per_part, parts - 1) + 1
        groups.setdefault(f"part{index}", []).append(layer)
        if layer.weights:
            seen += 1
    return groups


def _outside_layers(model, backbone) -> list:
    if backbone is model:
        return []
    return [layer for layer in model.layers if layer is not backbone and not _is_input(layer)]


def block_groups(model) -> dict[str, list]:
    """The model's layers grouped into blocks, ordered from input to output.

    Works on a backbone or on a classifier that contains one. Group names follow the
    architecture's own layer names:

    * EfficientNet-Lite0 (ftlab): ``stem``, ``block01`` … ``block16``, ``head``;
    * keras EfficientNet B0–B7/V2: ``stem``, ``block1a`` … ``block7a``, ``head`` (``top_*``);
    * MobileNetV2/V3: ``stem``, ``block_0`` … ``block_16`` (V3: ``block_10``/``block_14``), ``head``;
    * ResNet(V2)/DenseNet: ``stem``, ``conv2_block1`` … ``conv5_block3``, ``head`` (V2, DenseNet);
    * ConvNeXt: ``stem``, ``stage0_block0`` …, ``stageN_downsampling``, ``head``;
    * Xception: ``block1`` … ``block14``; InceptionV3: ``mixed0`` … ``mixed10``;
    * anything else: ``part1`` … ``part8``, slices with equal numbers of weighted layers.

    Preprocessing layers belong to ``stem``. A classifier adds a last group, ``classifier``,
    with every layer outside the backbone (augmentation, dropout, the new Dense layer).

    Returns:
        ``{group name: [layers]}`` in input→output order.

    Example:
        >>> list(block_groups(backbone))[:3]  # doctest: +SKIP
        ['stem', 'block01', 'block02']
    """
    backbone = find_backbone(model)
    groups, _ = _group_layers(backbone)
    outside = _outside_layers(model, backbone)
    if outside:
        groups[CLASSIFIER_GROUP] = outside
    return groups


def stage_groups(model) -> dict[str, list]:
    """Like :func:`block_groups`, with blocks merged into the architecture's stages.

    EfficientNet-Lite0: ``stem``, ``stage1`` … ``stage7``, ``head`` (stage *s* holds the blocks of
    row *s* of the EfficientNet-B0 table: 1, 2, 2, 3, 3, 4, 1 blocks). Keras EfficientNets:
    ``stage1`` …; MobileNetV2: ``stage1`` … ``stage7``; ResNet/DenseNet: ``conv2`` … ``conv5``;
    ConvNeXt: ``stage0`` … ``stage3``; Xception: entry/middle/exit flow. Architectures without
    known stages return their blocks.

    Example:
        >>> list(stage_groups(backbone))  # doctest: +SKIP
        ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'stage5', 'stage6', 'stage7', 'head']
    """
    backbone = find_backbone(model)
    blocks, stage_of = _group_layers(backbone)
    stages: dict[str, list] = {}
    for block, layers in blocks.items():
        stages.setdefault(stage_of(block) or block, []).extend(layers)
    outside = _outside_layers(model, backbone)
    if outside:
        stages[CLASSIFIER_GROUP] = outside
    return stages


# --------------------------------------------------------------------------------------------
# Changing what trains


def _is_batchnorm(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _apply(model, flags: dict) -> None:
    """Set ``trainable`` per layer (``{layer: bool}``); other layers keep their current flag.

    A layer's flag only counts when every container above it is trainable too (Keras skips the
    weights of a frozen container), so containers are switched on first, then every layer set.
    """
    backbone = find_backbone(model)
    everything = [layer for group in block_groups(model).values() for layer in group]
    current = {id(layer): layer.trainable for layer in everything}
    current.update({id(layer): value for layer, value in flags.items()})
    model.trainable = True  # recursive: the containers (and, for now, every layer) become trainable
    backbone.trainable = True
    for layer in everything:
        layer.trainable = current[id(layer)]


def _after_change(model, recompile: bool | None) -> None:
    if recompile is False:
        return
    spec = getattr(model, _COMPILE_ATTR, None)
    if spec is not None:
        _compile(model, spec)
        return
    if recompile:
        raise ModelError(f"model {model.name!r} was not compiled with ftlab.freeze.compile_model, so ftlab "
                         "cannot recompile it: call ftlab.freeze.compile_model(model, ...) first")
    if getattr(model, "compiled", False):
        warnings.warn(f"model {model.name!r} was compiled before its trainable layers changed: call "
                      "model.compile(...) again before fit (or compile it with ftlab.freeze.compile_model "
                      "and ftlab recompiles for you)", UserWarning, stacklevel=3)


def _backbone_groups(model) -> dict[str, list]:
    groups = block_groups(model)
    groups.pop(CLASSIFIER_GROUP, None)
    return groups


def freeze_all(model, recompile: bool | None = None) -> None:
    """Freeze the whole backbone; a classifier's own layers (the new head) stay trainable.

    This is phase 1 of fine-tuning ("feature extraction"): only the new head learns.

    Args:
        model: a backbone, or a classifier that contains one.
        recompile: None (default) recompiles when the model was compiled with
            :func:`compile_model` and warns if it was compiled otherwise; False skips both.

    Example:
        >>> freeze_all(model)  # doctest: +SKIP
    """
    flags = {layer: False for layers in _backbone_groups(model).values() for layer in layers}
    _apply(model, flags)
    _after_change(model, recompile)


def _unfreeze_flags(layers, keep_batchnorm_frozen: bool) -> dict:
    return {layer: not (keep_batchnorm_frozen and _is_batchnorm(layer)) for layer in layers}


def unfreeze_top(model, k: int, keep_batchnorm_frozen: bool = True, recompile: bool | None = None) -> list[str]:
    """Train only the top ``k`` block groups of the backbone; freeze the rest.

    Groups are those of :func:`block_groups`, counted from the output: ``head`` (the last 1×1
    conv and its BN for EfficientNet-Lite0) counts as the top one, so ``k=1`` trains the head
    only, ``k=3`` the head and the top two blocks (``block16``, ``block15``). ``k=0`` is
    :func:`freeze_all`; a ``k`` beyond the number of groups unfreezes everything. The layers of
    a classifier outside the backbone stay trainable.

    Args:
        model: a backbone, or a classifier that contains one.
        k: number of groups to train, from the top.
        keep_batchnorm_frozen: keep BatchNormalization layers frozen (and so in inference mode)
            inside the unfrozen groups: Keras rule 1 in this module's docstring.
        recompile: see :func:`freeze_all`.

    Returns:
        names of the groups now trainable, input→output order.

    Example:
        >>> unfreeze_top(model, 3)  # doctest: +SKIP
        ['block15', 'block16', 'head']
    """
    if int(k) != k or k < 0:
        raise ModelError(f"unfreeze_top: k={k!r} must be a whole number ≥ 0")
    groups = _backbone_groups(model)
    names = list(groups)
    top = names[len(names) - min(int(k), len(names)):] if k else []
    flags = {}
    for name, layers in groups.items():
        if name in top:
            flags.update(_unfreeze_flags(layers, keep_batchnorm_frozen))
        else:
            flags.update({layer: False for layer in layers})
    _apply(model, flags)
    _after_change(model, recompile)
    return top


def _resolve(model, groups) -> tuple[dict[str, list], list[str]]:
    if isinstance(groups, str):
        groups = [groups]
    groups = list(groups)
    blocks, stages = block_groups(model), stage_groups(model)
    known = {**blocks, **stages}
    unknown = [name for name in groups if name not in known]
    if unknown:
        raise ModelError(f"unknown group(s) {unknown} in {model.name!r}; blocks: {', '.join(blocks)}; "
                         f"stages: {', '.join(stages)}")
    return known, groups


def unfreeze(model, groups: Iterable[str] | str, keep_batchnorm_frozen: bool = True,
             recompile: bool | None = None) -> None:
    """Make the named blocks or stages trainable; everything else keeps its current state.

    Args:
        model: a backbone, or a classifier that contains one.
        groups: names from :func:`block_groups` or :func:`stage_groups` (``"block16"``,
            ``"stage7"``, ``"head"`` …), or one name.
        keep_batchnorm_frozen: leave BatchNormalization layers frozen (recommended).
        recompile: see :func:`freeze_all`.

    Raises:
        ModelError: a name that is neither a block nor a stage of this model (the message lists them).

    Example:
        >>> freeze_all(model); unfreeze(model, ["stage7", "head"])  # doctest: +SKIP
    """
    known, names = _resolve(model, groups)
    flags = {}
    for name in names:
        flags.update(_unfreeze_flags(known[name], keep_batchnorm_frozen))
    _apply(model, flags)
    _after_change(model, recompile)


def freeze(model, groups: Iterable[str] | str, recompile: bool | None = None) -> None:
    """Freeze the named blocks or stages; everything else keeps its current state.

    Example:
        >>> freeze(model, "stem")  # doctest: +SKIP
    """
    known, names = _resolve(model, groups)
    _apply(model, {layer: False for name in names for layer in known[name]})
    _after_change(model, recompile)


def set_batchnorm_frozen(model, frozen: bool = True, recompile: bool | None = None) -> int:
    """Freeze every BatchNormalization layer of the model, or let those in trainable blocks train.

    ``frozen=True``: every BN layer gets ``trainable=False``, which in Keras 3 also means it
    normalises with its stored ImageNet statistics in training too. ``frozen=False``: BN layers
    in groups where other layers train become trainable (they then use batch statistics in
    training and update their moving averages: only sensible with large batches).

    Returns:
        the number of BatchNormalization layers changed.

    Example:
        >>> set_batchnorm_frozen(model)  # doctest: +SKIP
        49
    """
    flags = {}
    for layers in block_groups(model).values():
        others_train = any(layer.trainable and layer.trainable_weights for layer in layers
                           if not _is_batchnorm(layer))
        for layer in layers:
            if _is_batchnorm(layer):
                target = False if frozen else others_train
                if layer.trainable != target:
                    flags[layer] = target
    if flags:
        _apply(model, flags)
        _after_change(model, recompile)
    return len(flags)


# --------------------------------------------------------------------------------------------
# Reporting


def count_params(model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts, the numbers ``model.summary()`` prints.

    Example:
        >>> count_params(backbone)  # doctest: +SKIP
        (0, 3419456)
    """
    trainable = {id(w): _size(w) for w in model.trainable_weights}
    frozen = {id(w): _size(w) for w in model.non_trainable_weights}
    return sum(trainable.values()), sum(frozen.values())


def trainable_summary(model, by: str = "block") -> list[dict]:
    """Trainable and frozen parameters per block (or stage) group.

    ``frozen`` counts every non-trainable weight, including BatchNormalization's moving mean and
    variance, which are never trained by gradient descent. The rows add up to
    ``model.count_params()``.

    Args:
        model: a backbone, or a classifier that contains one.
        by: ``"block"`` or ``"stage"``.

    Returns:
        ``[{"group", "trainable", "frozen", "total"}, ...]`` in input→output order.

    Example:
        >>> trainable_summary(model)[-1]  # doctest: +SKIP
        {'group': 'classifier', 'trainable': 6405, 'frozen': 0, 'total': 6405}
    """
    if by not in ("block", "stage"):
        raise ModelError(f"trainable_summary: by={by!r}, use 'block' or 'stage'")
    groups = block_groups(model) if by == "block" else stage_groups(model)
    trainable_ids = {id(w) for w in model.trainable_weights}
    rows, seen = [], set()
    for name, layers in groups.items():
        trainable = frozen = 0
        for layer in layers:
            for weight in layer.weights:
                if id(weight) in seen:
                    continue
                seen.add(id(weight))
                if id(weight) in trainable_ids:
                    trainable += _size(weight)
                else:
                    frozen += _size(weight)
        rows.append({"group": name, "trainable": trainable, "frozen": frozen, "total": trainable + frozen})
    return rows


def format_summary(rows: list[dict], collapse: bool = True) -> str:
    """A text table of :func:`trainable_summary` rows, with a total line.

    With ``collapse=True``, runs of consecutive fully frozen groups are shown as one line
    (``block01 … block13``), so long backbones stay readable.
    """
    def status(row):
        if row["total"] == 0:
            return "-"
        if row["trainable"] == 0:
            return "frozen"
        return "trainable" if row["frozen"] == 0 else "partly trainable"

    shown: list[dict] = []
    for row in rows:
        previous = shown[-1] if shown else None
        if (collapse and previous is not None and previous["trainable"] == 0 and row["trainable"] == 0
                and CLASSIFIER_GROUP not in (previous["group"], row["group"])):
            first = previous["group"].split(" … ")[0]
            shown[-1] = {"group": f"{first} … {row['group']}", "trainable": 0,
                         "frozen": previous["frozen"] + row["frozen"], "total": previous["total"] + row["total"]}
        else:
            shown.append(dict(row))
    width = max([len("group"), *(len(r["group"]) for r in shown)])
    lines = [f"{'group':<{width}}  {'trainable':>10}  {'frozen':>10}  status",
             f"{'-' * width}  {'-' * 10}  {'-' * 10}  ------"]
    for row in shown:
        lines.append(f"{row['group']:<{width}}  {row['trainable']:>10,}  {row['frozen']:>10,}  {status(row)}")
    trainable, frozen = sum(r["trainable"] for r in rows), sum(r["frozen"] for r in rows)
    lines.append(f"{'total':<{width}}  {trainable:>10,}  {frozen:>10,}  "
                 f"{100 * trainable / max(1, trainable + frozen):.1f}% trainable")
    return "\n".join(lines)


def print_summary(model, by: str = "block", collapse: bool = True) -> None:
    """Print :func:`format_summary` of :func:`trainable_summary` (what trains, block by block)."""
    print(format_summary(trainable_summary(model, by=by), collapse=collapse))


# --------------------------------------------------------------------------------------------
# Compiling (and recompiling after every change)


def _fresh_optimizer(spec: dict):
    import keras

    optimizer = spec["optimizer"]
    if isinstance(optimizer, str):
        cls = type(keras.optimizers.get(optimizer))
        return cls(learning_rate=spec["learning_rate"])
    cls, config = optimizer
    config = dict(config)
    if spec["learning_rate"] is not None:
        config["learning_rate"] = spec["learning_rate"]
    return cls.from_config(config)


def _compile(model, spec: dict) -> None:
    model.compile(optimizer=_fresh_optimizer(spec), loss=spec["loss"], metrics=spec["metrics"], **spec["kwargs"])


def compile_model(model, optimizer="adam", learning_rate: float | None = None,
                  loss="sparse_categorical_crossentropy", metrics=("accuracy",), **compile_kwargs):
    """Compile ``model`` and remember how, so the freeze functions can recompile it for you.

    Every later :func:`freeze_all`, :func:`unfreeze_top`, :func:`unfreeze`, :func:`freeze` or
    :func:`set_batchnorm_frozen` on this model recompiles it with a *fresh* optimizer (its
    moment estimates belonged to the old set of trainable weights). Call it again, e.g. with a
    10× lower ``learning_rate`` for fine-tuning, and the new settings are remembered.

    Args:
        model: the model to compile (usually the classifier).
        optimizer: a name (``"adam"``, ``"sgd"``, ``"adamw"`` …) or an optimizer instance (its
            configuration is copied, never the instance itself).
        learning_rate: default 1e-3 for a name, the instance's own for an instance.
        loss, metrics, compile_kwargs: passed to ``model.compile``.

    Returns:
        the model.

    Example:
        >>> compile_model(model, learning_rate=1e-3)  # doctest: +SKIP
        >>> unfreeze_top(model, 3)                    # recompiled here  # doctest: +SKIP
        >>> compile_model(model, learning_rate=1e-4)  # lower rate for fine-tuning  # doctest: +SKIP
    """
    import keras

    if isinstance(optimizer, str):
        stored = optimizer
        learning_rate = 1e-3 if learning_rate is None else learning_rate
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        stored = (type(optimizer), optimizer.get_config())
    else:
        raise ModelError(f"optimizer={optimizer!r}: give a name like 'adam' or a keras optimizer instance")
    spec = {"optimizer": stored, "learning_rate": learning_rate, "loss": loss,
            "metrics": list(metrics) if metrics else None, "kwargs": dict(compile_kwargs)}
    _compile(model, spec)
    # object.__setattr__: keep Keras' attribute tracking away from this plain dict
    object.__setattr__(model, _COMPILE_ATTR, spec)
    return model


def recompile(model, learning_rate: float | None = None) -> None:
    """Compile again as the last :func:`compile_model` did (fresh optimizer), maybe with a new rate.

    Example:
        >>> recompile(model, learning_rate=1e-5)  # doctest: +SKIP
    """
    spec = getattr(model, _COMPILE_ATTR, None)
    if spec is None:
        raise ModelError(f"model {model.name!r} was not compiled with ftlab.freeze.compile_model; "
                         "call compile_model(model, ...) first")
    if learning_rate is not None:
        spec = {**spec, "learning_rate": learning_rate}
        object.__setattr__(model, _COMPILE_ATTR, spec)
    _compile(model, spec)
