"""Freezing: choose which blocks of a pretrained backbone train, and see the result.

Lesson 01 (and 02–04). Blocks are named by :mod:`ftlab.blocks`; these helpers set ``trainable``
per block, keep BatchNormalization frozen and return a :class:`Trainable` summary: **you compile**.

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
2. **Compile again after changing ``trainable``.** ``compile`` fixes the list of variables the
   optimizer updates. Freeze a layer without recompiling and ``fit`` keeps training it;
   unfreeze one without recompiling and ``fit`` silently leaves it alone. Nothing here
   compiles for you; :func:`watch_compiles` (turned on by ``ftlab.setup()``) warns once when
   ``fit`` runs on a model whose trainable weights changed since its last ``compile``.

Example:
    >>> model = ftlab.models.heads.build_classifier(backbone, num_classes=5)  # doctest: +SKIP
    >>> ftlab.freeze.freeze_all(model)       # phase 1: only the new head trains  # doctest: +SKIP
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")  # doctest: +SKIP
    >>> ftlab.freeze.unfreeze_top(model, 3)  # phase 2: head + the top two blocks  # doctest: +SKIP
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")  # doctest: +SKIP
    >>> ftlab.freeze.print_summary(model)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from ftlab.blocks import CLASSIFIER_GROUP, _size, block_groups, find_backbone, groups_of, stage_groups
from ftlab.errors import ModelError

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


def _backbone_groups(model) -> dict[str, list]:
    groups = block_groups(model)
    groups.pop(CLASSIFIER_GROUP, None)
    return groups


@dataclass(frozen=True, repr=False)
class Trainable:
    """What trains after a freeze call: the backbone groups with trainable weights, and the counts.

    ``trainable`` and ``total`` are parameters of the whole model (a classifier's new head
    included), the numbers ``model.summary()`` prints. Shown in a notebook, it reminds you to
    compile before ``fit``.
    """

    groups: tuple[str, ...]
    trainable: int
    total: int

    def __str__(self) -> str:
        which = ", ".join(self.groups) if self.groups else "none of the backbone"
        share = 100 * self.trainable / max(1, self.total)
        return (f"trainable groups: {which}; {self.trainable:,} of {self.total:,} parameters train ({share:.1f}%). "
                "Compile again before fit.")

    __repr__ = __str__


def _summary(model) -> Trainable:
    trainable_ids = {id(w) for w in model.trainable_weights}
    groups = tuple(name for name, layers in _backbone_groups(model).items()
                   if any(id(w) in trainable_ids for layer in layers for w in layer.weights))
    trainable, frozen = count_params(model)
    return Trainable(groups, trainable, trainable + frozen)


def freeze_all(model) -> Trainable:
    """Freeze the whole backbone; a classifier's own layers (the new head) stay trainable.

    This is phase 1 of fine-tuning ("feature extraction"): only the new head learns. Like every
    function here it only sets ``trainable``: compile afterwards.

    Args:
        model: a backbone, or a classifier that contains one.

    Returns:
        a :class:`Trainable` summary (no backbone group trains).

    Example:
        >>> freeze_all(model)  # doctest: +SKIP
    """
    _apply(model, {layer: False for layers in _backbone_groups(model).values() for layer in layers})
    return _summary(model)


def _unfreeze_flags(layers, keep_batchnorm_frozen: bool) -> dict:
    return {layer: not (keep_batchnorm_frozen and _is_batchnorm(layer)) for layer in layers}


def unfreeze_top(model, k: int, keep_batchnorm_frozen: bool = True) -> Trainable:
    """Train only the top ``k`` block groups of the backbone; freeze the rest.

    Groups are those of :func:`block_groups`, counted from the output: ``head`` (the last 1×1
    conv and its BN for EfficientNet-Lite0) counts as the top one, so ``k=1`` trains the head
    only, ``k=3`` the head and the top two blocks (``block16``, ``block15``). ``k=0`` is
    :func:`freeze_all`; a ``k`` beyond the number of groups unfreezes everything. The layers of
    a classifier outside the backbone stay trainable. The same as this loop, in plain Keras::

        for layer in backbone.layers:
            layer.trainable = layer in top_k_groups and not isinstance(layer, keras.layers.BatchNormalization)

    Args:
        model: a backbone, or a classifier that contains one.
        k: number of groups to train, from the top.
        keep_batchnorm_frozen: keep BatchNormalization layers frozen (and so in inference mode)
            inside the unfrozen groups: Keras rule 1 in this module's docstring.

    Returns:
        a :class:`Trainable` summary; ``.groups`` names the groups now trainable, input→output.

    Example:
        >>> unfreeze_top(model, 3).groups  # doctest: +SKIP
        ('block15', 'block16', 'head')
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
    return _summary(model)


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


def unfreeze(model, groups: Iterable[str] | str, keep_batchnorm_frozen: bool = True) -> Trainable:
    """Make the named blocks or stages trainable; everything else keeps its current state.

    Args:
        model: a backbone, or a classifier that contains one.
        groups: names from :func:`block_groups` or :func:`stage_groups` (``"block16"``,
            ``"stage7"``, ``"head"`` …), or one name.
        keep_batchnorm_frozen: leave BatchNormalization layers frozen (recommended).

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
    return _summary(model)


def freeze(model, groups: Iterable[str] | str) -> Trainable:
    """Freeze the named blocks or stages; everything else keeps its current state.

    Example:
        >>> freeze(model, "stem")  # doctest: +SKIP
    """
    known, names = _resolve(model, groups)
    _apply(model, {layer: False for name in names for layer in known[name]})
    return _summary(model)


def set_batchnorm_frozen(model, frozen: bool = True) -> int:
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
    groups = groups_of(model, by)
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
# The recompile rule, checked: warn when fit runs on a stale compile

_compiled_set: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> trainable ids at compile
_warned: weakref.WeakSet = weakref.WeakSet()
_watching = False


def _trainable_ids(model) -> frozenset | None:
    if not getattr(model, "built", False):
        return None  # weights not made yet: nothing to compare
    return frozenset(id(v) for v in model.trainable_variables)


def stale_compile(model) -> tuple[int, int] | None:
    """``(now trainable but not at compile, trainable at compile but not now)``, or None.

    None when nothing changed since the last ``compile`` (or the model was compiled before
    :func:`watch_compiles` was on, or before it had weights).
    """
    then, now = _compiled_set.get(model), _trainable_ids(model)
    if then is None or now is None or then == now:
        return None
    return len(now - then), len(then - now)


def watch_compiles() -> None:
    """Warn once per model when ``fit`` runs after ``trainable`` changed and before ``compile``.

    Wraps ``keras.Model.compile`` (to note which variables were trainable) and
    ``keras.Model.fit`` (to compare). ``ftlab.setup()`` turns it on; calling it again does
    nothing. The warning names the model and says what changed::

        UserWarning: model 'classifier': 1,234 variables became trainable (and 0 frozen) since
        it was compiled, so this fit still trains the old set. Call classifier.compile(...) again.
    """
    global _watching
    if _watching:
        return
    import keras

    original_compile, original_fit = keras.Model.compile, keras.Model.fit

    @functools.wraps(original_compile)
    def compile(self, *args, **kwargs):
        result = original_compile(self, *args, **kwargs)
        ids = _trainable_ids(self)
        if ids is not None:
            _compiled_set[self] = ids
        _warned.discard(self)
        return result

    @functools.wraps(original_fit)
    def fit(self, *args, **kwargs):
        change = None if self in _warned else stale_compile(self)
        if change is not None:
            _warned.add(self)
            warnings.warn(f"model {self.name!r}: {change[0]:,} variables became trainable and {change[1]:,} "
                          "were frozen since it was compiled, so this fit still trains the old set. Call "
                          "model.compile(...) again after changing trainable.", UserWarning, stacklevel=2)
        return original_fit(self, *args, **kwargs)

    keras.Model.compile, keras.Model.fit = compile, fit
    _watching = True
