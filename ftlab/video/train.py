"""Train and measure clip classifiers built from an image network (lesson 04).

Four methods, one recipe (same data, same features, same metrics):

``single_frame``
    A linear classifier on the middle frame's features: what an image model alone can do.
``bag_of_frames``
    A linear classifier on the *average* of all frames' features: sees every frame, ignores order.
``features``
    Frozen per-frame features (backbone run once, cached) + a temporal head that reads the
    differences between consecutive frames (:func:`ftlab.video.models.build_temporal_head`).
``inflated``
    The backbone's top stage inflated to 3-D (I3D) and fine-tuned on cached lower-stage maps,
    read by the same temporal head (:func:`ftlab.video.models.build_inflated_classifier`).

Every frame goes through the backbone exactly once (:func:`extract_clip_features`, disk-cached):
one pass yields both the grid-pooled frame features and the feature maps where the inflated
stage starts. Training then never touches the lower backbone again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ftlab import settings, splits
from ftlab.errors import DataError, ModelError
from ftlab.memory import PeakRSS
from ftlab.video.reader import VideoClips

METHODS = ("single_frame", "bag_of_frames", "features", "inflated")
DEFAULT_INFLATE_FROM = "block16"


@dataclass
class ClipFeatures:
    """What the backbone computed for a training and a validation set of clips.

    Attributes:
        train_frames, val_frames: ``(n, t, d)`` per-frame features (grid-pooled last feature map).
        train_maps, val_maps: ``(n, t, h, w, c)`` feature maps where the inflated stage starts.
        y_train, y_val: labels.
        class_names: class names.
        upper: the 2-D top of the backbone (from ``inflate_from`` to the pooled output).
        grid: grid of the frame features (1 = global average pooling).
        inflate_from: name prefix of the first inflated layer.
        seconds: time spent in the backbone (0 when everything came from the cache).
    """

    train_frames: np.ndarray
    val_frames: np.ndarray
    train_maps: np.ndarray
    val_maps: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    class_names: list
    upper: object = field(repr=False)
    grid: int = 2
    inflate_from: str = DEFAULT_INFLATE_FROM
    seconds: float = 0.0

    @property
    def num_frames(self) -> int:
        return int(self.train_frames.shape[1])

    def __repr__(self) -> str:
        return (f"ClipFeatures(train {self.train_frames.shape[0]} clips, val {self.val_frames.shape[0]} clips, "
                f"{self.num_frames} frames; frame features {self.train_frames.shape[2]}-d, "
                f"maps {'×'.join(map(str, self.train_maps.shape[2:]))} at {self.inflate_from})")


@dataclass
class VideoResult:
    """One trained method and its measurements on the validation clips."""

    method: str
    accuracy: float
    balanced_accuracy: float
    per_class_recall: dict
    confusion_matrix: list
    seconds: float
    peak_rss_mb: float
    rss_increase_mb: float
    trainable_params: int
    epochs: int
    history: dict = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    model: object = field(repr=False, default=None)

    def row(self) -> dict:
        """The figures of merit as a flat dict (for tables, plots and JSON)."""
        return {"method": self.method, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb,
                "rss_increase_mb": self.rss_increase_mb, "trainable_params": self.trainable_params,
                "epochs": self.epochs}


def _split_models(backbone, grid: int, inflate_from: str):
    """One 2-D model: frame → [flattened lower map ‖ grid-pooled features]; plus the 2-D upper part."""
    import keras
    from keras import layers

    from ftlab.video import models

    flat = models.flatten_model(backbone)
    lower, upper = models.split_backbone(flat, inflate_from)
    frame_model = models.frame_feature_model(flat, grid=grid)
    if frame_model.inputs[0] is not lower.inputs[0]:
        raise ModelError("internal: frame and lower models must share the backbone input")
    map_shape = tuple(lower.output.shape[1:])
    both = layers.Concatenate(name="maps_and_features")(
        [layers.Flatten(name="flat_maps")(lower.output), frame_model.output])
    return keras.Model(flat.inputs, both, name=f"{backbone.name}_clip_features"), upper, map_shape


def extract_clip_features(clips: np.ndarray, backbone, grid: int = 2, inflate_from: str = DEFAULT_INFLATE_FROM,
                          batch_size: int = 64, cache: bool = True):
    """Run the backbone once on every frame; return frame features, lower maps and the 2-D upper part.

    Cached on disk by :func:`ftlab.features.extract_features` (key: backbone weights + frames).

    Args:
        clips: uint8 ``(n, t, h, w, 3)``.
        backbone: a 2-D Keras backbone (RGB 0..255 in), e.g. ``build_backbone(image_size=112)``.
        grid: grid of the pooled frame features (2 keeps left/right and top/bottom).
        inflate_from: first layer (name prefix) of the stage to inflate, e.g. ``"block16"``.

    Returns:
        ``(frames (n, t, d), maps (n, t, h', w', c), upper)``.

    Example:
        >>> frames, maps, upper = extract_clip_features(data.clips, backbone)  # doctest: +SKIP
    """
    from ftlab.features import extract_features

    clips = np.asarray(clips)
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise DataError(f"clips must be (n, frames, height, width, 3), got shape {clips.shape}")
    model, upper, map_shape = _split_models(backbone, grid, inflate_from)
    n, t = clips.shape[:2]
    flat = extract_features(model, clips.reshape(n * t, *clips.shape[2:]), batch_size=batch_size,
                            cache=cache, cache_key=f"video-g{grid}-{inflate_from}")
    size = int(np.prod(map_shape))
    maps = flat[:, :size].reshape(n, t, *map_shape)
    frames = flat[:, size:].reshape(n, t, -1)
    return frames, maps, upper


def default_backbone(image_size: int = 112):
    """The bundled EfficientNet-Lite0 with ImageNet weights (offline), pooled, at ``image_size``."""
    from ftlab.models.backbones import build_backbone

    return build_backbone("efficientnet_lite0", image_size=image_size, weights="imagenet", pooling="avg")


def prepare_clip_features(train: VideoClips, val: VideoClips, backbone=None, grid: int = 2,
                          inflate_from: str = DEFAULT_INFLATE_FROM, batch_size: int = 64,
                          cache: bool = True) -> ClipFeatures:
    """Backbone features for a training and a validation set (see :func:`extract_clip_features`).

    Example:
        >>> feats = prepare_clip_features(train, val)  # doctest: +SKIP
        >>> feats.train_frames.shape  # doctest: +SKIP
        (60, 8, 5120)
    """
    if list(train.class_names) != list(val.class_names):
        raise DataError(f"training classes {train.class_names} and validation classes {val.class_names} differ; "
                        "give both folders the same class sub-folders")
    if train.clips.shape[1:] != val.clips.shape[1:]:
        raise DataError(f"training clips {train.clips.shape[1:]} and validation clips {val.clips.shape[1:]} "
                        "differ in shape; read both with the same --frames and --size")
    if backbone is None:
        backbone = default_backbone(train.clips.shape[2])
    started = time.perf_counter()
    train_frames, train_maps, upper = extract_clip_features(train.clips, backbone, grid, inflate_from,
                                                            batch_size, cache)
    val_frames, val_maps, _ = extract_clip_features(val.clips, backbone, grid, inflate_from, batch_size, cache)
    return ClipFeatures(train_frames, val_frames, train_maps, val_maps, np.asarray(train.labels),
                        np.asarray(val.labels), list(train.class_names), upper, grid, inflate_from,
                        time.perf_counter() - started)


def default_epochs(method: str) -> int:
    """Epochs per method: quick mode keeps the lesson about a minute on 2 CPU cores."""
    return {"single_frame": settings.quick_or(15, 30), "bag_of_frames": settings.quick_or(15, 30),
            "features": settings.quick_or(25, 40), "inflated": settings.quick_or(6, 10)}[method]


def default_learning_rate(method: str) -> float:
    """Adam's learning rate per method (tuned on the lesson's quick-mode clips)."""
    return {"single_frame": 3e-3, "bag_of_frames": 3e-3, "features": 2e-3, "inflated": 2e-3}[method]


def default_batch_size(method: str) -> int:
    """Clips per step: the linear baselines take bigger steps (they are cheap and stable)."""
    return 32 if method in ("single_frame", "bag_of_frames") else 16


def build_method_model(method: str, features: ClipFeatures, kind: str = "conv", differences: bool = True,
                       readout: str = "temporal"):
    """The uncompiled Keras model of ``method`` for these features (logits out)."""
    from ftlab.video import models

    num_classes, t = len(features.class_names), features.num_frames
    dim = features.train_frames.shape[-1]
    if method == "single_frame":
        return models.build_temporal_head(t, dim, num_classes, kind="single", name="single_frame")
    if method == "bag_of_frames":
        return models.build_temporal_head(t, dim, num_classes, kind="mean", name="bag_of_frames")
    if method == "features":
        return models.build_temporal_head(t, dim, num_classes, kind=kind, differences=differences,
                                          name="features_temporal_head")
    if method == "inflated":
        return models.build_inflated_classifier(features.upper, t, num_classes, grid=features.grid, kind=kind,
                                                differences=differences, readout=readout)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def method_inputs(method: str, features: ClipFeatures):
    """``(x_train, x_val)`` of ``method``: frame features (the middle frame only for ``single_frame``) or maps."""
    if method == "inflated":
        return features.train_maps, features.val_maps
    if method == "single_frame":
        middle = features.num_frames // 2
        return features.train_frames[:, middle:middle + 1], features.val_frames[:, middle:middle + 1]
    return features.train_frames, features.val_frames


def finetune(method: str, features: ClipFeatures, epochs: int | None = None, learning_rate: float | None = None,
             batch_size: int | None = None, kind: str = "conv", differences: bool = True, seed: int | None = None,
             keep_model: bool = True, readout: str = "temporal") -> VideoResult:
    """Build, compile and fit one method on cached features, then measure it on the validation clips.

    What it runs is plain Keras, as lesson 04 writes out for the ``features`` method::

        ftlab.settings.seed_everything(seed)
        model = build_method_model(method, features)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        with PeakRSS() as memory:
            history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=..., batch_size=...)
        result = measure(method, model, history, features, memory)

    Args:
        method: one of :data:`METHODS`.
        features: from :func:`prepare_clip_features`.
        epochs: default :func:`default_epochs`.
        learning_rate: Adam's learning rate (default :func:`default_learning_rate`).
        batch_size: clips per step (default :func:`default_batch_size`).
        kind: temporal head for ``features``/``inflated`` (``conv``, ``gru``, ``attention``).
        differences: let the temporal head read frame-to-frame differences.
        readout: ``inflated`` only: ``"temporal"`` (default) or ``"pool"`` (I3D's average over time).
        seed: seeds Keras before building (default ``FTLAB_SEED``).
        keep_model: keep the trained Keras model in the result.

    Returns:
        :class:`VideoResult`.

    Example:
        >>> result = finetune("features", feats)  # doctest: +SKIP
        >>> round(result.accuracy, 2)  # doctest: +SKIP
        0.75
    """
    import keras

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    epochs = default_epochs(method) if epochs is None else int(epochs)
    batch_size = default_batch_size(method) if batch_size is None else int(batch_size)
    learning_rate = default_learning_rate(method) if learning_rate is None else float(learning_rate)
    settings.seed_everything(seed)
    x_train, x_val = method_inputs(method, features)
    model = build_method_model(method, features, kind=kind, differences=differences, readout=readout)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    with PeakRSS() as memory:
        history = model.fit(x_train, features.y_train, validation_data=(x_val, features.y_val), epochs=epochs,
                            batch_size=batch_size, shuffle=True, verbose=0)
    return measure(method, model, history, features, memory, keep_model=keep_model)


def measure(method: str, model, history, features: ClipFeatures, memory: PeakRSS,
            keep_model: bool = True) -> VideoResult:
    """A :class:`VideoResult` for a model trained on ``features``: validation metrics, the ``fit`` time and
    memory that ``memory`` (a :class:`~ftlab.memory.PeakRSS` around ``fit``) saw, its trainable weights."""
    from ftlab import metrics
    from ftlab.freeze import count_params

    probabilities = predict_probabilities(model, method_inputs(method, features)[1])
    report = metrics.classification_report(features.y_val, probabilities, features.class_names)
    return VideoResult(method=method, accuracy=float(report["accuracy"]),
                       balanced_accuracy=float(report["balanced_accuracy"]),
                       per_class_recall=report["per_class_recall"], confusion_matrix=report["confusion_matrix"],
                       seconds=memory.seconds, peak_rss_mb=memory.peak_mb,
                       rss_increase_mb=max(memory.peak_mb - memory.start_mb, 0.0),
                       trainable_params=count_params(model)[0], epochs=len(history.epoch),
                       history={k: [float(v) for v in vs] for k, vs in history.history.items()},
                       probabilities=probabilities, model=model if keep_model else None)


def predict_probabilities(model, x, batch_size: int = 64) -> np.ndarray:
    """Softmax of a logits model on ``x``, by direct calls in batches.

    Direct calls (not ``model.predict``) avoid building a new ``tf.function`` for every freshly
    trained model, which TensorFlow reports as "retracing" warnings.
    """
    import keras

    parts = [np.asarray(keras.ops.softmax(model(x[i:i + batch_size], training=False), axis=-1))
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def compare_methods(features: ClipFeatures, methods=METHODS, verbose: bool = True, **kwargs) -> dict:
    """Train each method in turn; returns ``{method: VideoResult}`` and prints one line each.

    Example:
        >>> results = compare_methods(feats)  # doctest: +SKIP
        single_frame   accuracy 0.19  (6 classes: chance 0.17)  0.9 s  peak RSS 1210 MB
    """
    results = {}
    chance = 1 / len(features.class_names)
    for method in methods:
        result = finetune(method, features, **kwargs)
        results[method] = result
        if verbose:
            print(f"{method:<14} accuracy {result.accuracy:.2f}  (chance {chance:.2f})  "
                  f"trained in {result.seconds:5.1f} s  peak RSS {result.peak_rss_mb:6.0f} MB "
                  f"(+{result.rss_increase_mb:.0f})  {result.trainable_params:,} trainable parameters")
    return results


def results_table(results: dict) -> str:
    """A Markdown table: accuracy, training time and memory per method."""
    lines = ["| method | val accuracy | balanced acc. | train s | peak RSS MB | +RSS MB | trainable params |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r.accuracy:.3f} | {r.balanced_accuracy:.3f} | {r.seconds:.1f} | "
                     f"{r.peak_rss_mb:.0f} | {r.rss_increase_mb:.0f} | {r.trainable_params:,} |")
    return "\n".join(lines)


def plot_results(results: dict, title: str | None = None):
    """One figure: accuracy, training seconds and peak RSS per method (three panels)."""
    from ftlab.plots import plot_strategy_comparison

    rows = {name: {**r.row(), "peak_rss_gb": r.peak_rss_mb / 1024} for name, r in results.items()}
    fig = plot_strategy_comparison(rows, metrics=("accuracy", "seconds", "peak_rss_gb"),
                                   labels={"peak_rss_gb": "peak RSS while training, GB (lower is better)"},
                                   title=title)
    chance = None
    first = next(iter(results.values()), None)
    if first is not None and first.probabilities.ndim == 2:
        chance = 1 / first.probabilities.shape[1]
    if chance is not None:
        ax = fig.axes[0]
        ax.axvline(chance, color="grey", linestyle="--", linewidth=1)
        ax.text(chance, ax.get_ylim()[0], " chance", color="grey", fontsize=8, va="bottom")
    return fig


def stratified_split(labels, val_fraction: float, seed: int = 0):
    """Indices ``(train, val)``: ``val_fraction`` of each class (at least one clip) goes to validation.

    Example:
        >>> tr, va = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], 0.25)
        >>> len(tr), len(va)
        (6, 2)
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"--val-split must be between 0 and 1 (exclusive), got {val_fraction}")
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        c = values[counts.argmin()]
        raise DataError(f"class {int(c)} has {counts.min()} clip(s); a validation split needs at least 2 "
                        "per class (add clips or pass --val DIR)")
    return splits.stratified_split(labels, val_fraction, seed)
