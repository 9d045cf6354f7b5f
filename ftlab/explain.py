"""Grad-CAM: which part of the image pushed the model toward a class?

Introduced in lesson 02. Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization") weighs each channel ``A_k`` of a convolutional
feature map by the average gradient of the class score with respect to it, sums, and keeps
the positive part::

    alpha_k = mean_ij  d score_c / d A_k[i, j]
    cam     = ReLU( sum_k alpha_k * A_k )

The class score is the *logit* (before softmax), as in the paper. The map has the feature
map's resolution (``image_size / 32`` for EfficientNet-Lite0's last block: 3×3 at 96 px,
7×7 at 224 px), so it is upsampled to the image for display. It shows where the evidence
is, not why: a model that looks at a ruler or a hair still gets a confident heat map.

Works for a functional model with the conv layer inside it, and for the models
:func:`ftlab.models.heads.build_classifier` makes (a chain with the backbone nested inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftlab.errors import ModelError

DEFAULT_LAYER = "head_activation"  # EfficientNet-Lite0's last conv activation (ftlab.models.lite0)


@dataclass
class GradCAMResult:
    """What :func:`grad_cam` returns.

    Attributes:
        heatmaps: float ``(n, H, W)`` in 0..1, upsampled to the input image size.
        maps: float ``(n, h, w)`` at the feature map's resolution (normalised like ``heatmaps``).
        class_index: int ``(n,)``: the class each map explains.
        probabilities: float ``(n, classes)``: the model's output for each image.
        layer_name: the feature-map layer used.
    """

    heatmaps: np.ndarray
    maps: np.ndarray
    class_index: np.ndarray
    probabilities: np.ndarray
    layer_name: str


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _four_d(layer) -> bool:
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def find_feature_layer(model, layer_name: str | None = None):
    """Locate the conv layer to explain: ``(container, layer)``.

    ``container`` is ``model`` itself or a model nested directly inside it (a backbone).
    Without ``layer_name`` it takes ``head_activation`` (EfficientNet-Lite0) when present,
    else the last layer with a 4-D output.

    Raises:
        ModelError: no such layer, or no 4-D feature map anywhere.
    """
    containers = [model, *[layer for layer in model.layers if _is_model(layer)]]
    wanted = [layer_name] if layer_name else [DEFAULT_LAYER]
    for name in wanted:
        for container in containers:
            for layer in container.layers:
                if layer.name == name:
                    if not _four_d(layer):
                        raise ModelError(f"layer {name!r} of {container.name!r} outputs {layer.output.shape}, "
                                         "not a feature map (batch, height, width, channels)")
                    return container, layer
    if layer_name:
        names = [layer.name for c in containers for layer in c.layers if _four_d(layer)]
        raise ModelError(f"model {model.name!r} has no layer {layer_name!r}; feature-map layers are: "
                         f"{', '.join(names[-8:]) or 'none'}")
    for container in reversed(containers):
        maps = [layer for layer in container.layers if _four_d(layer) and not _is_model(layer)]
        if maps:
            return container, maps[-1]
    raise ModelError(f"model {model.name!r} has no convolutional feature map for Grad-CAM")


def _softmax_dense(layer) -> bool:
    import keras

    activation = getattr(layer, "activation", None)
    return isinstance(layer, keras.layers.Dense) and getattr(activation, "__name__", "") == "softmax"


def _pre_softmax(layer, x):
    """The logits of a Dense layer whose activation is softmax."""
    from keras import ops

    return ops.matmul(x, layer.kernel) + layer.bias if layer.use_bias else ops.matmul(x, layer.kernel)


def _build_forward(model, container, layer):
    """A function images → (feature map, class scores, probabilities) with a differentiable path."""
    import keras
    from keras import ops

    last = model.layers[-1]
    if container is model:
        if _softmax_dense(last):
            inner = keras.Model(model.inputs, [layer.output, last.input])

            def forward(x):
                feature_map, penultimate = inner(x, training=False)
                logits = _pre_softmax(last, penultimate)
                return feature_map, logits, ops.softmax(logits)
        else:
            inner = keras.Model(model.inputs, [layer.output, model.output])

            def forward(x):
                feature_map, out = inner(x, training=False)
                return feature_map, out, out
        return forward

    inner = keras.Model(container.inputs, [layer.output, container.output])
    chain = [item for item in model.layers if not isinstance(item, keras.layers.InputLayer)]

    def forward(x):
        feature_map = None
        scores = probs = x
        for item in chain:
            if item is container:
                feature_map, scores = inner(scores, training=False)
            elif item is last and _softmax_dense(item):
                scores = _pre_softmax(item, scores)
                probs = ops.softmax(scores)
                return feature_map, scores, probs
            else:
                scores = item(scores, training=False)
        return feature_map, scores, scores

    return forward


def grad_cam(model, images, class_index=None, layer_name: str | None = None, batch_size: int = 16,
             check_outputs: bool = True) -> GradCAMResult:
    """Grad-CAM heat maps of ``images`` for ``class_index`` (default: the predicted class).

    Introduced in lesson 02.

    Args:
        model: a Keras classifier (TensorFlow backend), e.g. from ``ftlab.train.finetune`` or
            ``ftlab.models.heads.build_classifier``.
        images: ``(n, H, W, 3)`` RGB 0..255 (uint8 or float), or one image ``(H, W, 3)``.
        class_index: None (predicted class), an int for all images, or one int per image.
        layer_name: the conv layer to explain; default ``head_activation`` (EfficientNet-Lite0's
            last feature map) or else the model's last 4-D layer.
        batch_size: images per gradient pass.
        check_outputs: confirm on the first batch that the replayed forward pass gives the
            model's own probabilities (guards against models that are not a simple chain).

    Returns:
        :class:`GradCAMResult` (``heatmaps`` in 0..1 at the image size, ``maps`` at the feature
        map size, ``class_index``, ``probabilities``, ``layer_name``).

    Raises:
        ModelError: no suitable layer, or a model this helper cannot replay faithfully.

    Example:
        >>> cams = ftlab.explain.grad_cam(model, x_test[:8])  # doctest: +SKIP
        >>> plt.imshow(ftlab.explain.overlay(x_test[0], cams.heatmaps[0]))  # doctest: +SKIP
    """
    import tensorflow as tf

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, height, width, 3), got {images.shape}")
    container, layer = find_feature_layer(model, layer_name)
    forward = _build_forward(model, container, layer)
    n = len(images)
    if class_index is None:
        wanted = None
    else:
        wanted = np.broadcast_to(np.asarray(class_index, dtype=int), (n,)).copy()

    maps, classes, probabilities = [], [], []
    for start in range(0, n, batch_size):
        batch = tf.convert_to_tensor(images[start:start + batch_size], dtype=tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(batch)  # so gradients exist even when the feature map is an input-like tensor
            feature_map, scores, probs = forward(batch)
            probs_np = np.asarray(probs)
            chosen = probs_np.argmax(axis=1) if wanted is None else wanted[start:start + batch_size]
            target = tf.gather(scores, tf.constant(chosen, dtype=tf.int32), axis=1, batch_dims=1)
        if check_outputs and start == 0:
            reference = np.asarray(model(batch, training=False))
            if reference.shape != probs_np.shape or not np.allclose(reference, probs_np, atol=1e-4):
                raise ModelError(f"grad_cam could not replay model {model.name!r} (its outputs differ): "
                                 "use a functional model with the conv layer inside, or one built by "
                                 "ftlab.models.heads.build_classifier")
        gradients = tape.gradient(target, feature_map)
        if gradients is None:
            raise ModelError(f"no gradient flows from the class score to layer {layer.name!r}")
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1)).numpy()
        maps.append(cam)
        classes.append(chosen)
        probabilities.append(probs_np)

    raw = np.concatenate(maps).astype("float32")
    peak = raw.reshape(n, -1).max(axis=1)
    normalised = raw / np.where(peak > 0, peak, 1.0)[:, None, None]
    heatmaps = upsample(normalised, images.shape[1:3])
    return GradCAMResult(heatmaps=heatmaps, maps=normalised, class_index=np.concatenate(classes).astype(int),
                         probabilities=np.concatenate(probabilities), layer_name=layer.name)


def upsample(maps, size) -> np.ndarray:
    """Bilinear upsampling of ``(n, h, w)`` maps to ``size = (H, W)`` (values stay in range).

    Example:
        >>> upsample(np.ones((1, 2, 2)), (4, 4)).shape
        (1, 4, 4)
    """
    from PIL import Image

    maps = np.asarray(maps, dtype="float32")
    height, width = int(size[0]), int(size[1])
    out = np.empty((len(maps), height, width), dtype="float32")
    for i, m in enumerate(maps):
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(m, dtype="float32")).resize((width, height), Image.Resampling.BILINEAR))
    return np.clip(out, 0.0, max(1.0, float(maps.max(initial=0.0))))


def overlay(image, heatmap, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blend a 0..1 heat map (colour-mapped) over an RGB image; returns uint8 ``(H, W, 3)``.

    The heat map is resized to the image if needed. Introduced in lesson 02.

    Example:
        >>> overlay(np.zeros((8, 8, 3), np.uint8), np.ones((2, 2))).shape
        (8, 8, 3)
    """
    import matplotlib

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape (height, width, 3), got {image.shape}")
    heatmap = np.asarray(heatmap, dtype="float32")
    if heatmap.shape != image.shape[:2]:
        heatmap = upsample(heatmap[None], image.shape[:2])[0]
    coloured = matplotlib.colormaps[colormap](np.clip(heatmap, 0, 1))[..., :3] * 255.0
    base = image.astype("float32")
    if base.max() <= 1.0:
        base = base * 255.0
    return np.clip((1 - alpha) * base + alpha * coloured, 0, 255).astype(np.uint8)


def show_grad_cam(images, result: GradCAMResult, titles=None, columns: int = 4, alpha: float = 0.45,
                  suptitle: str = ""):
    """A grid of images with their Grad-CAM overlays underneath; returns the figure.

    Example:
        >>> fig = ftlab.explain.show_grad_cam(x[:4], ftlab.explain.grad_cam(model, x[:4]))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    n = len(images)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    fig, axes = plt.subplots(2 * rows, columns, figsize=(2.3 * columns, 4.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, columns)
        axes[2 * r, c].imshow(images[i])
        if titles is not None:
            axes[2 * r, c].set_title(titles[i], fontsize=8)
        axes[2 * r + 1, c].imshow(overlay(images[i], result.heatmaps[i], alpha=alpha))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
