"""The two-phase fine-tuning engine behind ``ftlab finetune`` and the lessons.

Introduced in lesson 00, used in lessons 01 and 02.

Phase 1 (feature extraction): the backbone is frozen, so its features are computed once and
cached (:mod:`ftlab.features`), and a softmax head is solved on them (a convex problem: L-BFGS to
its optimum, its L2 strength tuned) in seconds.
Phase 2 (fine-tuning, optional): the head is placed on top of the backbone, the top ``unfreeze``
blocks are made trainable (BatchNorm stays in inference mode) and the whole is trained on random
resized crops at a low learning rate, so the pretrained weights are nudged rather than wiped.
Every decision (the L2 strength, early stopping, whether phase 2 is kept) is taken on an inner
split of the training data; the validation set passed in is only measured, at the end, so its
figures are an honest estimate.

The pieces live beside it and are re-exported here: the head solver in :mod:`ftlab.softmax_head`,
the ``tf.data`` pipeline in :mod:`ftlab.train_data`, the ``.keras`` file in :mod:`ftlab.modelfile`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ftlab import metrics as metrics_lib
from ftlab import splits
from ftlab.errors import DataError

# Re-exported: ftlab.train stays the one public address of the recipe. finetune and _select_head
# look fit_softmax_head up here, so a test that monkeypatches ftlab.train.fit_softmax_head reaches them.
from ftlab.modelfile import (  # noqa: F401
    _REGISTERED_FTLAB_NAME,
    METADATA_ENTRY,
    _first_sentence,
    load_model,
    save_model,
)
from ftlab.softmax_head import _log_loss, _log_softmax, _softmax_probs, fit_softmax_head  # noqa: F401
from ftlab.train_data import image_dataset, random_resized_crop  # noqa: F401


def balanced_class_weight(labels, num_classes: int) -> dict[int, float]:
    """Weights ``n / (k * n_c)``, so each class contributes equally to the loss (``fit(class_weight=...)``).

    scikit-learn's ``compute_class_weight("balanced", ...)`` over the ``k`` classes present; a class
    with no training labels gets weight 0 (scikit-learn would raise) and keys run over all classes.

    Example:
        >>> balanced_class_weight([0, 0, 0, 1], 2)
        {0: 0.6666666666666666, 1: 2.0}
    """
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(labels, dtype=int)
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    by_class = dict(zip(present.tolist(), weights.tolist(), strict=True))
    return {c: float(by_class.get(c, 0.0)) for c in range(num_classes)}


def resolve_class_weight(class_weight, labels, num_classes: int):
    """Turn ``None``, ``"balanced"`` or a dict into what ``keras.Model.fit`` takes."""
    if class_weight is None or class_weight == "none":
        return None
    if class_weight == "balanced":
        return balanced_class_weight(labels, num_classes)
    if isinstance(class_weight, dict):
        return {int(k): float(v) for k, v in class_weight.items()}
    raise ValueError(f"class_weight must be None, 'balanced' or a dict, not {class_weight!r}")


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns.

    ``metrics`` and ``head_metrics`` are measured on the validation set passed to
    :func:`finetune`, after every decision was taken; ``selection`` holds what the decisions
    were taken on (the inner split of the training data) and ``kept_reason`` says why.
    """

    model: object
    class_names: list
    metrics: dict
    head_metrics: dict
    history: dict = field(default_factory=dict)
    kept: str = "head"
    seconds: float = 0.0
    config: dict = field(default_factory=dict)
    selection: dict = field(default_factory=dict)
    kept_reason: str = ""

    def summary(self) -> dict:
        """Flat, JSON-able figures (what the CLI prints): validation figures and the inner split's."""
        return {
            **self.metrics,
            "head_accuracy": self.head_metrics["accuracy"],
            "head_balanced_accuracy": self.head_metrics["balanced_accuracy"],
            "kept": self.kept,
            "kept_reason": self.kept_reason,
            "selection": self.selection,
            "seconds": round(self.seconds, 2),
        }


def _inner_score(labels, probs, weights) -> float:
    """Accuracy, or with class weights the mean recall of the classes the inner split holds."""
    hits = np.asarray(probs).argmax(axis=1) == labels
    if weights is None:
        return float(hits.mean())
    return float(np.mean([hits[labels == c].mean() for c in np.unique(labels)]))


HEAD_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
"""Inverse L2 strengths tried for the head (scikit-learn's ``C``: the penalty is ``‖W‖² / (2 C n)``
per image), the best chosen on the inner split."""

SELECTION_SPLIT = 0.2
"""Share of the training data (per class, or by group) held out to take every decision on."""

def _per_image_weights(labels, weights):
    return None if weights is None else np.array([weights[int(c)] for c in labels], dtype=np.float64)


def selection_split(labels, groups=None, share: float = SELECTION_SPLIT, seed: int = 0):
    """Indices ``(fit, select)`` of the training data: every decision of :func:`finetune` is taken
    on ``select``, so the validation set stays a measurement.

    Stratified by class (:func:`ftlab.splits.stratified_split`); with ``groups`` (lesion ids)
    every group lies wholly on one side (:func:`ftlab.splits.grouped_split`).

    Example:
        >>> fit, select = selection_split([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        >>> len(fit), len(select)
        (8, 2)
    """
    labels = np.asarray(labels, dtype=int)
    if groups is not None:
        fit, select = splits.grouped_split(labels, np.asarray(groups), share, seed)
        return np.sort(np.asarray(fit, dtype=np.int64)), np.sort(np.asarray(select, dtype=np.int64))
    return splits.stratified_split(labels, share, seed)

def _select_head(f_fit, y_fit, f_select, y_select, num_classes, weights):
    """Fit one head per C of :data:`HEAD_C_GRID` on ``fit``; the best on ``select`` wins
    (score first, then log loss)."""
    best = None
    trials = []
    w_fit, w_select = _per_image_weights(y_fit, weights), _per_image_weights(y_select, weights)
    kernel = bias = None
    for C in HEAD_C_GRID:  # ascending: each fit starts from the previous, more regularised, one
        kernel, bias = fit_softmax_head(f_fit, y_fit, num_classes, C, w_fit,
                                        init=None if kernel is None else (kernel, bias))
        probs = _softmax_probs(f_select, kernel, bias)
        key = (_inner_score(y_select, probs, weights), -_log_loss(y_select, probs, w_select))
        trials.append({"C": C, "score": round(key[0], 4), "log_loss": round(-key[1], 4)})
        if best is None or key > best[0]:
            best = (key, C, kernel, bias)
    return best, trials


def finetune(
    x_train,
    y_train,
    x_val,
    y_val,
    class_names,
    backbone="efficientnet_lite0",
    image_size=224,
    head_epochs=None,
    finetune_epochs=6,
    unfreeze=2,
    class_weight=None,
    learning_rate=None,
    finetune_learning_rate=1e-4,
    batch_size=32,
    dropout_rate=0.2,
    augment=True,
    checkpoint_dir=None,
    patience=4,
    progress=None,
    verbose=False,
    groups=None,
    seed=0,
) -> FinetuneResult:
    """Train a classifier on top of a pretrained backbone in two phases, deciding on training data only.

    1. An inner split of the training data (:func:`selection_split`, by ``groups`` when given)
       is held out: every decision below is taken on it, never on ``x_val``.
    2. Head: multinomial logistic regression on cached frozen features, solved to its optimum
       (:func:`fit_softmax_head`) for each L2 strength of :data:`HEAD_C_GRID`; the best on the
       inner split is refitted on all the training data.
    3. Fine-tuning (optional): the inner-split head goes on the backbone, the top ``unfreeze``
       groups train (BatchNorm in inference mode) on random resized crops and flips at
       ``finetune_learning_rate``, early stopping on the inner split. It is kept only if it
       beats the head there: a higher accuracy (balanced accuracy with ``class_weight``); a tie
       keeps the head, which costs nothing to run and nothing to store.
    4. ``x_val`` is then only measured, for the kept model and for the head.

    Args:
        x_train, x_val: uint8 images ``(n, image_size, image_size, 3)``.
        y_train, y_val: integer labels.
        class_names: names in label order.
        backbone: a name for :func:`ftlab.models.backbones.build_backbone` or a built backbone.
        image_size: input side in pixels.
        head_epochs, learning_rate: accepted for older calls; the head is solved, not trained
            by epochs.
        finetune_epochs: max epochs of phase 2; 0 skips it.
        unfreeze: how many top groups phase 2 trains (``ftlab.freeze.unfreeze_top``); 0 skips it.
        class_weight: ``None``, ``"balanced"`` or ``{class: weight}`` (both phases; decisions then
            use balanced accuracy).
        finetune_learning_rate: Adam learning rate of phase 2.
        augment: random resized crops and flips during phase 2 (:func:`random_resized_crop`).
        checkpoint_dir: where phase 2 keeps a backup each epoch, so an interrupted run resumes
            where it stopped when called again with the same folder and the same data and settings
            (:class:`ftlab.backup.SafeBackup`: atomic, checksummed, keyed, locked).
        patience: early-stopping patience of phase 2 (epochs without a lower inner-split loss).
        progress: an optional Keras callback (the CLI's progress bar), given to phase 2.
        groups: optional group id per training image (lesion ids): the inner split keeps groups whole.
        seed: seed of the inner split and of the augmentation.

    Returns:
        :class:`FinetuneResult`: the model, validation metrics of the kept weights and of the
        head (``head_metrics``), the inner-split figures behind each decision (``selection``),
        which phase was kept and why (``kept``, ``kept_reason``), the history of phase 2.

    Example:
        >>> result = ftlab.train.finetune(x_tr, y_tr, x_va, y_va, ["cat", "dog"], image_size=160)  # doctest: +SKIP
        >>> result.kept, result.kept_reason  # doctest: +SKIP
    """
    import keras

    from ftlab import features, freeze
    from ftlab.models import backbones, heads

    start = time.perf_counter()
    num_classes = len(class_names)
    if num_classes < 2:
        raise DataError(f"fine-tuning needs at least two classes, got {class_names}")
    if len(x_train) == 0 or len(x_val) == 0:
        raise DataError("fine-tuning needs training and validation images; add images or lower --val-split")
    y_train, y_val = np.asarray(y_train, dtype=int), np.asarray(y_val, dtype=int)
    if groups is not None and len(groups) != len(y_train):
        raise DataError(f"groups has {len(groups)} ids for {len(y_train)} training images")
    weights = resolve_class_weight(class_weight, y_train, num_classes)
    fit_idx, select_idx = selection_split(y_train, groups, SELECTION_SPLIT, seed)
    if len(select_idx) == 0 or set(y_train[fit_idx].tolist()) != set(y_train.tolist()):
        raise DataError(
            f"{len(y_train)} training images are too few to hold an inner split out for the decisions: "
            "give each class at least 2 training images (3 or more is better)"
        )
    y_fit, y_select = y_train[fit_idx], y_train[select_idx]

    base = (
        backbones.build_backbone(backbone, image_size=image_size) if isinstance(backbone, str) else backbone
    )
    base.trainable = False
    f_train = features.extract_features(base, x_train, batch_size=batch_size)
    f_val = features.extract_features(base, x_val, batch_size=batch_size)
    f_fit, f_select = f_train[fit_idx], f_train[select_idx]

    (select_key, best_C, fit_kernel, fit_bias), trials = _select_head(
        f_fit, y_fit, f_select, y_select, num_classes, weights
    )
    kernel, bias = fit_softmax_head(f_train, y_train, num_classes, best_C, _per_image_weights(y_train, weights),
                                    init=(fit_kernel, fit_bias))
    head = heads.build_head(f_train.shape[-1], num_classes, dropout_rate=dropout_rate)
    head.get_layer(heads.CLASSIFIER_LAYER).set_weights([kernel, bias])
    head_metrics = metrics_lib.classification_report(y_val, head.predict(f_val, verbose=0), class_names)
    selection = {
        "split": "by group (lesion)" if groups is not None else f"stratified {SELECTION_SPLIT:.0%} of training",
        "n_fit": int(len(fit_idx)),
        "n_select": int(len(select_idx)),
        "score": "balanced_accuracy" if weights is not None else "accuracy",
        "head_C": best_C,
        "head_trials": trials,
        "head": {"score": round(select_key[0], 4), "log_loss": round(-select_key[1], 4)},
    }
    history = {"head": {"C": [t["C"] for t in trials], "select_score": [t["score"] for t in trials]}}

    model = heads.build_classifier(base, num_classes, dropout_rate=dropout_rate)
    heads.transfer_head_weights(head, model)
    result_metrics, kept = head_metrics, "head"
    reason = "fine-tuning skipped (unfreeze 0 or 0 epochs)"
    if unfreeze > 0 and finetune_epochs > 0:
        head_phase_weights = [w.copy() for w in model.get_weights()]
        model.get_layer(heads.CLASSIFIER_LAYER).set_weights([fit_kernel, fit_bias])
        freeze.unfreeze_top(model, unfreeze)
        model.compile(optimizer=keras.optimizers.Adam(finetune_learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])  # after changing trainable, as Keras requires
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=max(1, patience), restore_best_weights=True),
            *([progress] if progress is not None else []),
        ]
        x_fit, x_select = x_train[fit_idx], x_train[select_idx]
        if checkpoint_dir is not None:
            from ftlab.backup import SafeBackup, backup_key

            key = backup_key([x_fit, y_fit, x_select, y_select], classes=list(class_names),
                             backbone=backbone if isinstance(backbone, str) else base.name, image_size=int(image_size),
                             unfreeze=unfreeze, epochs=finetune_epochs, learning_rate=finetune_learning_rate,
                             batch_size=batch_size, augment=augment, class_weight=weights, seed=seed,
                             head_C=best_C)
            callbacks.insert(0, SafeBackup(checkpoint_dir, key))
        tune_history = model.fit(
            image_dataset(x_fit, y_fit, batch_size, shuffle=True, seed=seed, augment=augment),
            validation_data=image_dataset(x_select, y_select, batch_size),
            epochs=finetune_epochs,
            class_weight=weights,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        history["finetune"] = {k: [float(v) for v in vals] for k, vals in tune_history.history.items()}
        tuned_probs = model.predict(image_dataset(x_select, y_select, batch_size), verbose=0)
        tuned_key = (_inner_score(y_select, tuned_probs, weights),
                     -_log_loss(y_select, tuned_probs, _per_image_weights(y_select, weights)))
        selection["finetuned"] = {"score": round(tuned_key[0], 4), "log_loss": round(-tuned_key[1], 4),
                                  "epochs": len(history["finetune"].get("loss", []))}
        figures = (f"{selection['score']} {tuned_key[0]:.3f} vs head {select_key[0]:.3f}, log loss "
                   f"{-tuned_key[1]:.3f} vs {-select_key[1]:.3f} on the inner split ({len(select_idx)} images)")
        if tuned_key[0] > select_key[0]:
            kept, reason = "finetuned", f"fine-tuning beat the head: {figures}"
            result_metrics = metrics_lib.classification_report(
                y_val, model.predict(image_dataset(x_val, y_val, batch_size), verbose=0), class_names
            )
        else:
            reason = f"fine-tuning did not beat the head, head kept: {figures}"
            model.set_weights(head_phase_weights)
        freeze.freeze_all(model)
    config = {
        "backbone": backbone if isinstance(backbone, str) else base.name,
        "image_size": int(image_size),
        "class_names": list(class_names),
        "unfreeze": int(unfreeze),
        "class_weight": class_weight,
        "preprocessing": _preprocessing(),
    }
    return FinetuneResult(
        model=model,
        class_names=list(class_names),
        metrics=result_metrics,
        head_metrics=head_metrics,
        history=history,
        kept=kept,
        seconds=time.perf_counter() - start,
        config=config,
        selection=selection,
        kept_reason=reason,
    )


def _preprocessing() -> str:
    from ftlab.data.images import PREPROCESSING

    return PREPROCESSING
