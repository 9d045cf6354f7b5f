"""Gradual unfreezing (ULMFiT): a Keras callback that unfreezes one more group from the top every
few epochs. Imported on first use of ``ftlab.lr.GradualUnfreezing`` (it needs Keras).
"""

from __future__ import annotations

import keras

from ftlab.blocks import groups_of as _groups
from ftlab.errors import ModelError


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


class GradualUnfreezing(keras.callbacks.Callback):
    """A Keras callback that unfreezes the backbone one group at a time, from the top.

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

    def __init__(self, schedule=None, epochs_per_group: int = 1, start_epoch: int = 1, max_groups=None,
                 by: str = "stage", keep_batchnorm_frozen: bool = True, verbose: bool = True):
        super().__init__()
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
