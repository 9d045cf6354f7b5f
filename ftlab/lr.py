"""Learning rates for fine-tuning: a learning-rate finder, discriminative rates, gradual unfreezing.

Introduced in lesson 01.

* :func:`find_learning_rate` — the "LR range test" (Smith 2017; popularised by fastai's
  ``lr_find``): train for a few dozen mini-batches while the learning rate grows exponentially,
  record the loss, and read off where it falls fastest. The model's weights and optimizer
  state are restored afterwards.
* :func:`discriminative_optimizer` — one optimizer, a different learning rate per block group:
  the new head and the top of the backbone learn at the full rate, each group below at a
  fraction of the one above (Howard & Ruder 2018, ULMFiT). Early layers hold generic features
  (edges, textures) that need little change; small steps there keep what ImageNet taught.
* :class:`GradualUnfreezing` — a Keras callback that unfreezes one more group from the top
  every few epochs (ULMFiT's other trick), so the head settles before deep layers move.
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
    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
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


def _groups(model, by: str) -> dict:
    from ftlab import freeze

    if by == "stage":
        return freeze.stage_groups(model)
    if by == "block":
        return freeze.block_groups(model)
    raise ModelError(f"by={by!r}: use 'stage' or 'block'")


def discriminative_learning_rates(model, learning_rate: float, factor: float = 0.5, by: str = "stage") -> dict:
    """The learning rate of each group: full at the top, ×``factor`` per group going down.

    The classifier's own layers (the new head) and the backbone's top group get
    ``learning_rate``; the group below gets ``learning_rate * factor``, the next
    ``learning_rate * factor**2``, and so on down to the stem.

    Args:
        model: a backbone or a classifier containing one.
        learning_rate: the rate of the top groups.
        factor: ratio between neighbouring groups (0 < factor ≤ 1; 1 = one rate for all).
        by: ``"stage"`` (EfficientNet-Lite0: stem, stage1..7, head) or ``"block"``.

    Returns:
        ``{group name: learning rate}``, input→output order.

    Example:
        >>> rates = discriminative_learning_rates(model, 1e-3, factor=0.5)  # doctest: +SKIP
        >>> rates["head"], rates["stage7"], rates["stem"]  # doctest: +SKIP
        (0.001, 0.0005, 3.90625e-06)
    """
    from ftlab import freeze

    if not 0 < factor <= 1:
        raise ValueError(f"discriminative_learning_rates: factor={factor}; use 0 < factor ≤ 1")
    names = list(_groups(model, by))
    backbone_names = [name for name in names if name != freeze.CLASSIFIER_GROUP]
    depth = {name: len(backbone_names) - 1 - i for i, name in enumerate(backbone_names)}
    return {name: learning_rate * factor ** depth.get(name, 0) for name in names}


def _variable_multipliers(model, factor: float, by: str) -> dict:
    """``{variable path: rate multiplier}`` for every weight of the model."""
    rates = discriminative_learning_rates(model, 1.0, factor=factor, by=by)
    multipliers = {}
    for name, layers in _groups(model, by).items():
        for layer in layers:
            for weight in layer.weights:
                multipliers[weight.path] = rates[name]
    return multipliers


_DISCRIMINATIVE_CLASSES: dict = {}


def _discriminative_class(base_cls):
    """A subclass of a Keras optimizer that scales the learning rate per variable."""
    if base_cls in _DISCRIMINATIVE_CLASSES:
        return _DISCRIMINATIVE_CLASSES[base_cls]

    class Discriminative(base_cls):
        def __init__(self, multipliers=None, **kwargs):
            super().__init__(**kwargs)
            self.multipliers = {str(k): float(v) for k, v in (multipliers or {}).items()}
            self._index_multiplier = {}

        def build(self, variables):
            super().build(variables)
            self._index_multiplier = {self._get_variable_index(v): self.multipliers.get(v.path, 1.0)
                                      for v in variables}

        def update_step(self, gradient, variable, learning_rate):
            multiplier = self._index_multiplier.get(self._get_variable_index(variable), 1.0)
            if multiplier != 1.0:
                learning_rate = learning_rate * multiplier
            return super().update_step(gradient, variable, learning_rate)

        def get_config(self):
            return {**super().get_config(), "multipliers": dict(self.multipliers)}

    Discriminative.__name__ = f"Discriminative{base_cls.__name__}"
    Discriminative.__qualname__ = Discriminative.__name__
    _DISCRIMINATIVE_CLASSES[base_cls] = Discriminative
    return Discriminative


def discriminative_optimizer(model, learning_rate: float = 1e-4, factor: float = 0.5, by: str = "stage",
                             optimizer: str = "adam", **optimizer_kwargs):
    """An optimizer that trains each block group at its own learning rate.

    The rates are those of :func:`discriminative_learning_rates`. It is an ordinary Keras
    optimizer (a subclass of ``keras.optimizers.Adam`` etc.) whose ``update_step`` multiplies
    the learning rate by the variable's group multiplier, so it works with ``compile`` and
    ``fit`` (build a fresh one each time you compile again after changing ``trainable``) and
    with any schedule of the base rate.

    Args:
        model: the model it will train (a backbone or a classifier containing one).
        learning_rate: rate of the head and the top group.
        factor: ratio between neighbouring groups.
        by: ``"stage"`` or ``"block"``.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` or an optimizer class.
        optimizer_kwargs: passed to the optimizer (``weight_decay=...``, ``momentum=...``).

    Returns:
        a Keras optimizer instance.

    Example:
        >>> opt = discriminative_optimizer(model, learning_rate=1e-4, factor=0.5)  # doctest: +SKIP
        >>> model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")  # doctest: +SKIP
    """
    import keras

    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
               "rmsprop": keras.optimizers.RMSprop}
    if isinstance(optimizer, str):
        if optimizer.lower() not in classes:
            raise ModelError(f"discriminative_optimizer: optimizer={optimizer!r}; use one of {', '.join(classes)}")
        base_cls = classes[optimizer.lower()]
    elif isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        base_cls = optimizer
    else:
        raise ModelError(f"discriminative_optimizer: optimizer={optimizer!r}; give a name or an optimizer class")
    cls = _discriminative_class(base_cls)
    return cls(multipliers=_variable_multipliers(model, factor, by), learning_rate=learning_rate,
               **optimizer_kwargs)


# --------------------------------------------------------------------------------------------
# Gradual unfreezing


def unfreezing_schedule(group_names, epochs_per_group: int = 1, start_epoch: int = 1,
                        max_groups: int | None = None) -> dict:
    """Which groups to unfreeze at which epoch: the top one first, then one more each step.

    Args:
        group_names: backbone groups, input→output order (e.g. ``list(stage_groups(m))[:-1]``).
        epochs_per_group: epochs between two unfreezings.
        start_epoch: epoch (0-based) of the first unfreezing; epochs before it train the head only.
        max_groups: stop after this many groups (None: all).

    Returns:
        ``{epoch: group name}``.

    Example:
        >>> unfreezing_schedule(["stem", "stage1", "stage2", "head"], epochs_per_group=2, max_groups=3)
        {1: 'head', 3: 'stage2', 5: 'stage1'}
    """
    if epochs_per_group < 1 or start_epoch < 0:
        raise ValueError("unfreezing_schedule: epochs_per_group ≥ 1 and start_epoch ≥ 0")
    names = list(group_names)[::-1]
    if max_groups is not None:
        names = names[:max_groups]
    return {start_epoch + i * epochs_per_group: name for i, name in enumerate(names)}


class _GradualUnfreezingBase:
    """Logic of :class:`GradualUnfreezing` without the Keras base class (see its docstring)."""

    def __init__(self, schedule=None, epochs_per_group: int = 1, start_epoch: int = 1, max_groups=None,
                 by: str = "stage", keep_batchnorm_frozen: bool = True, verbose: bool = True):
        self.schedule_arg = schedule
        self.epochs_per_group = epochs_per_group
        self.start_epoch = start_epoch
        self.max_groups = max_groups
        self.by = by
        self.keep_batchnorm_frozen = keep_batchnorm_frozen
        self.verbose = verbose
        self.schedule: dict = {}
        self.unfrozen: list = []
        self.log: list = []

    def _resolve_schedule(self, model) -> dict:
        from ftlab import freeze

        names = [name for name in _groups(model, self.by) if name != freeze.CLASSIFIER_GROUP]
        if self.schedule_arg is None:
            return unfreezing_schedule(names, self.epochs_per_group, self.start_epoch, self.max_groups)
        unknown = [name for name in self.schedule_arg.values() if name not in names]
        if unknown:
            raise ModelError(f"GradualUnfreezing: unknown group(s) {unknown}; {self.by} groups: {', '.join(names)}")
        return {int(epoch): name for epoch, name in self.schedule_arg.items()}

    def on_train_begin(self, logs=None):
        from ftlab import freeze

        model = self.model
        self.schedule = self._resolve_schedule(model)
        groups = _groups(model, self.by)
        # The optimizer can only update variables it was built with: build a fresh one (same
        # configuration) over everything the schedule will ever unfreeze, then put the current
        # trainable flags back.
        before = {id(layer): layer.trainable for layers in groups.values() for layer in layers}
        freeze.unfreeze(model, list(self.schedule.values()), keep_batchnorm_frozen=self.keep_batchnorm_frozen)
        superset = list(model.trainable_variables)
        for layers in groups.values():
            for layer in layers:
                layer.trainable = before[id(layer)]
        old = model.optimizer
        fresh = type(old).from_config(old.get_config())
        fresh.build(superset)
        model.optimizer = fresh
        model.make_train_function(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        from ftlab import freeze

        name = self.schedule.get(epoch)
        if name is None:
            return
        freeze.unfreeze(self.model, [name], keep_batchnorm_frozen=self.keep_batchnorm_frozen)
        self.model.make_train_function(force=True)
        self.unfrozen.append(name)
        trainable, _ = freeze.count_params(self.model)
        self.log.append({"epoch": int(epoch), "group": name, "trainable": trainable})
        if self.verbose:
            print(f"epoch {epoch + 1}: unfroze {name} → {trainable:,} trainable parameters")


_GRADUAL_CLASS = None


def _gradual_unfreezing_class():
    """Define :class:`GradualUnfreezing` on first use, so importing this module skips Keras."""
    global _GRADUAL_CLASS
    if _GRADUAL_CLASS is None:
        import keras

        class GradualUnfreezing(_GradualUnfreezingBase, keras.callbacks.Callback):
            __doc__ = _GRADUAL_DOC

            def __init__(self, schedule=None, epochs_per_group: int = 1, start_epoch: int = 1, max_groups=None,
                         by: str = "stage", keep_batchnorm_frozen: bool = True, verbose: bool = True):
                keras.callbacks.Callback.__init__(self)
                _GradualUnfreezingBase.__init__(self, schedule, epochs_per_group, start_epoch, max_groups, by,
                                                keep_batchnorm_frozen, verbose)

        GradualUnfreezing.__module__ = __name__
        _GRADUAL_CLASS = GradualUnfreezing
    return _GRADUAL_CLASS


_GRADUAL_DOC = """A Keras callback that unfreezes the backbone one group at a time, from the top.

    ``ftlab.lr.GradualUnfreezing(...)``. Before epoch ``start_epoch`` only what is trainable
    already (the new head) trains; then every ``epochs_per_group`` epochs the next group down
    joins. BatchNorm layers stay frozen. The model keeps one optimizer for the whole run (built
    over every variable the schedule will unfreeze, with the model's optimizer configuration),
    and ``fit`` re-traces its step function after each change, so no recompiling is needed.

    Args:
        schedule: explicit ``{epoch: group name}`` (overrides the next three arguments).
        epochs_per_group, start_epoch, max_groups: see :func:`unfreezing_schedule`.
        by: ``"stage"`` or ``"block"`` groups.
        keep_batchnorm_frozen: keep BatchNormalization layers frozen (recommended).
        verbose: print a line at each unfreezing.

    Attributes:
        log: ``[{"epoch", "group", "trainable"}, ...]``, one entry per unfreezing.

    Example:
        >>> ftlab.freeze.freeze_all(model)  # doctest: +SKIP
        >>> model.fit(train, epochs=4, callbacks=[ftlab.lr.GradualUnfreezing(max_groups=3)])  # doctest: +SKIP
        epoch 2: unfroze head → ...
    """


def __getattr__(name: str):
    if name == "GradualUnfreezing":
        return _gradual_unfreezing_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
