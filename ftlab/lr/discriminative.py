"""Discriminative learning rates: one optimizer, a smaller rate for each block group further down
(Howard & Ruder 2018, ULMFiT).
"""

from __future__ import annotations

from ftlab.blocks import groups_of as _groups
from ftlab.errors import ModelError


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
