"""The two-phase fine-tuning engine behind ``ftlab finetune`` and the lessons.

Introduced in lesson 00, used in lessons 01 and 02.

Phase 1 (feature extraction): the backbone is frozen, so its features are computed once and
cached (:mod:`ftlab.features`), and a small head is trained on them in seconds.
Phase 2 (fine-tuning, optional): the head is placed on top of the backbone, the top ``unfreeze``
blocks are made trainable (BatchNorm stays in inference mode) and the whole is trained on images
with a learning rate ten times lower, so the pretrained weights are nudged rather than wiped.
Fine-tuning never ends worse than phase 1: the engine keeps whichever scored better on the
validation set.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ftlab import metrics as metrics_lib
from ftlab.errors import DataError, ModelError

METADATA_ENTRY = "ftlab.json"
# How a .keras config.json names a class registered by ftlab (package="ftlab").
_REGISTERED_FTLAB_NAME = re.compile(r'"registered_name":\s*"(ftlab>\w+)"')


def balanced_class_weight(labels, num_classes: int) -> dict[int, float]:
    """Weights ``n / (k * n_c)``: each class contributes equally to the loss.

    Example:
        >>> balanced_class_weight([0, 0, 0, 1], 2)
        {0: 0.6666666666666666, 1: 2.0}
    """
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes)
    total = counts.sum()
    return {c: (float(total / (num_classes * counts[c])) if counts[c] else 0.0) for c in range(num_classes)}


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
    """What :func:`finetune` returns."""

    model: object
    class_names: list
    metrics: dict
    head_metrics: dict
    history: dict = field(default_factory=dict)
    kept: str = "head"
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Flat, JSON-able figures (what the CLI prints)."""
        return {
            **self.metrics,
            "head_accuracy": self.head_metrics["accuracy"],
            "head_balanced_accuracy": self.head_metrics["balanced_accuracy"],
            "kept": self.kept,
            "seconds": round(self.seconds, 2),
        }


def _score(report: dict, class_weight) -> float:
    return report["balanced_accuracy"] if class_weight is not None else report["accuracy"]


def image_dataset(images, labels, batch_size=32, shuffle=False, seed=0):
    """A ``tf.data`` pipeline over uint8 arrays, cast to float32 per batch (never the whole array)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, dtype="int32")))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _default_augmentation():
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomTranslation(0.08, 0.08),
            keras.layers.RandomZoom(0.1),
        ],
        name="augmentation",
    )


def finetune(
    x_train,
    y_train,
    x_val,
    y_val,
    class_names,
    backbone="efficientnet_lite0",
    image_size=224,
    head_epochs=30,
    finetune_epochs=3,
    unfreeze=2,
    class_weight=None,
    learning_rate=1e-3,
    finetune_learning_rate=1e-4,
    batch_size=32,
    dropout_rate=0.2,
    augment=True,
    checkpoint_dir=None,
    patience=5,
    progress=None,
    verbose=False,
) -> FinetuneResult:
    """Train a classifier on top of a pretrained backbone in two phases.

    Args:
        x_train, x_val: uint8 images ``(n, image_size, image_size, 3)``.
        y_train, y_val: integer labels.
        class_names: names in label order.
        backbone: a name for :func:`ftlab.models.backbones.build_backbone` or a built backbone.
        image_size: input side in pixels.
        head_epochs: max epochs of phase 1 (early stopping on validation loss).
        finetune_epochs: max epochs of phase 2; 0 skips it.
        unfreeze: how many top blocks phase 2 trains (``ftlab.freeze.unfreeze_top``); 0 skips it.
        class_weight: ``None``, ``"balanced"`` or ``{class: weight}``.
        learning_rate, finetune_learning_rate: Adam learning rates of the two phases.
        augment: random flips/shifts/zoom during phase 2.
        checkpoint_dir: where phase 2 keeps a backup each epoch, so an interrupted run resumes
            where it stopped when called again with the same folder and the same data and settings
            (:class:`ftlab.backup.SafeBackup`: atomic, checksummed, keyed, locked).
        progress: an optional Keras callback (the CLI's progress bar).

    Returns:
        :class:`FinetuneResult` with the model, validation metrics of the kept weights and of
        phase 1 (``head_metrics``), the history of both phases and which phase was kept.

    Example:
        >>> result = ftlab.train.finetune(x_tr, y_tr, x_va, y_va, ["cat", "dog"], image_size=160)  # doctest: +SKIP
        >>> result.metrics["accuracy"], result.head_metrics["accuracy"]  # doctest: +SKIP
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
    weights = resolve_class_weight(class_weight, y_train, num_classes)
    callbacks_extra = [progress] if progress is not None else []

    base = (
        backbones.build_backbone(backbone, image_size=image_size) if isinstance(backbone, str) else backbone
    )
    base.trainable = False
    f_train = features.extract_features(base, x_train, batch_size=batch_size)
    f_val = features.extract_features(base, x_val, batch_size=batch_size)

    head = heads.build_head(f_train.shape[-1], num_classes, dropout_rate=dropout_rate)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    head_history = head.fit(
        f_train,
        y_train,
        validation_data=(f_val, y_val),
        epochs=head_epochs,
        batch_size=batch_size,
        class_weight=weights,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
            *callbacks_extra,
        ],
    )
    head_metrics = metrics_lib.classification_report(y_val, head.predict(f_val, verbose=0), class_names)
    history = {"head": {k: [float(v) for v in vals] for k, vals in head_history.history.items()}}

    model = heads.build_classifier(
        base,
        num_classes,
        dropout_rate=dropout_rate,
        augmentation=_default_augmentation() if augment else None,
    )
    heads.transfer_head_weights(head, model)
    result_metrics, kept = head_metrics, "head"
    if unfreeze > 0 and finetune_epochs > 0:
        head_phase_weights = [w.copy() for w in model.get_weights()]
        freeze.unfreeze_top(model, unfreeze)
        freeze.compile_model(model, optimizer="adam", learning_rate=finetune_learning_rate)
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=max(1, patience // 2), restore_best_weights=True
            ),
            *callbacks_extra,
        ]
        if checkpoint_dir is not None:
            from ftlab.backup import SafeBackup, backup_key

            key = backup_key([x_train, y_train, x_val, y_val], classes=list(class_names),
                             backbone=backbone if isinstance(backbone, str) else base.name, image_size=int(image_size),
                             unfreeze=unfreeze, epochs=finetune_epochs, learning_rate=finetune_learning_rate,
                             batch_size=batch_size, augment=augment, class_weight=weights)
            callbacks.insert(0, SafeBackup(checkpoint_dir, key))
        tune_history = model.fit(
            image_dataset(x_train, y_train, batch_size, shuffle=True),
            validation_data=image_dataset(x_val, y_val, batch_size),
            epochs=finetune_epochs,
            class_weight=weights,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        history["finetune"] = {k: [float(v) for v in vals] for k, vals in tune_history.history.items()}
        tuned_metrics = metrics_lib.classification_report(
            y_val, model.predict(x_val, batch_size=batch_size, verbose=0), class_names
        )
        if _score(tuned_metrics, weights) >= _score(head_metrics, weights):
            result_metrics, kept = tuned_metrics, "finetuned"
        else:
            model.set_weights(head_phase_weights)
        freeze.freeze_all(model)
    config = {
        "backbone": backbone if isinstance(backbone, str) else base.name,
        "image_size": int(image_size),
        "class_names": list(class_names),
        "unfreeze": int(unfreeze),
        "class_weight": class_weight,
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
    )


def save_model(model, path, config: dict) -> Path:
    """Save a classifier as ``.keras`` with ftlab's metadata (class names, image size) inside.

    The metadata is an extra ``ftlab.json`` entry in the ``.keras`` zip, which Keras ignores,
    so the file stays a plain Keras model and carries everything ``ftlab evaluate`` needs.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: the model file name must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.keras")
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps(config))
        tmp.replace(path)
    except BaseException:  # an interrupted save (Ctrl-C, full disk) leaves no X.keras.tmp.keras behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def _first_sentence(error: BaseException, limit: int = 120) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_model(path):
    """Load a classifier saved by :func:`save_model`; returns ``(model, config)``.

    ftlab's own Keras layers that the file uses (e.g. ResNet-50's ``CaffePreprocessing``) are
    registered first (:func:`ftlab.models.backbones.register_custom_objects`), so a model saved by
    one process loads in a fresh one.

    Raises:
        ModelError: the file is missing, not a Keras model, or lacks ftlab's metadata.
    """
    import keras

    from ftlab.models import backbones

    path = Path(path)
    if path.is_dir():
        inside = sorted(path.glob("*.keras"))
        example = inside[0] if inside else path / "model.keras"
        raise ModelError(f"{path} is a folder, not a model file: pass a .keras file, e.g. {example}")
    if not path.is_file():
        out = path if path.suffix == ".keras" else path.with_suffix(".keras")
        raise ModelError(f"{path}: no such model file; train one with `ftlab finetune --out {out}`")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
            config = json.loads(archive.read(METADATA_ENTRY)) if METADATA_ENTRY in entries else {}
            keras_config = (
                archive.read("config.json").decode("utf-8", "replace") if "config.json" in entries else ""
            )
        if not isinstance(config, dict):
            raise ValueError(f"{METADATA_ENTRY} is not a JSON object")
        backbones.register_custom_objects(_REGISTERED_FTLAB_NAME.findall(keras_config))
        model = keras.saving.load_model(path, compile=False)
        if "class_names" not in config:
            output_units = int(model.output_shape[-1])
            config["class_names"] = [str(i) for i in range(output_units)]
            config.setdefault("image_size", int(model.input_shape[1]))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        UnicodeDecodeError,
    ) as error:
        detail = _first_sentence(error)
        raise ModelError(
            f"{path}: cannot read this model file ({type(error).__name__}"
            f"{': ' + detail if detail else ''}); "
            "pass a .keras file written by `ftlab finetune --out`"
        ) from None
    return model, config
