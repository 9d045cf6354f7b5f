"""The decoded, split images of a folder (:class:`ImageData`) and their ``tf.data`` pipelines.

What :func:`ftlab.data.images.load_image_folder` returns (``ftlab.data.images`` re-exports it);
lessons 01 and 02 train on it (TensorFlow is imported only when a dataset is built).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ftlab.errors import DataError


@dataclass(repr=False)
class ImageData:
    """Decoded, resized images split into training and validation sets.

    Attributes:
        x_train, x_val: ``uint8`` arrays of shape (N, size, size, 3), RGB.
        y_train, y_val: ``int32`` labels indexing ``class_names``.
        class_names: the training folder's classes (sorted sub-folder names with images).
        skipped: ``(path, reason)`` for every file or class folder that was left out.
        source: where the data came from, in words.
        train_paths, val_paths: the file behind each image.
        seed: seed of the split and of :meth:`train_dataset`'s shuffling.
        batch_size: default batch size of the ``tf.data`` pipelines.
        cached: whether the decoded images came from the disk cache.

    Example:
        >>> data = ftlab.data.load_image_folder("my_photos", image_size=224)  # doctest: +SKIP
        >>> model.fit(data.train_dataset(), validation_data=data.val_dataset())  # doctest: +SKIP
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    source: str = ""
    train_paths: list[Path] = field(default_factory=list)
    val_paths: list[Path] = field(default_factory=list)
    seed: int = 42
    batch_size: int = 32
    cached: bool = False

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(len(self.x_train))

    @property
    def n_val(self) -> int:
        """Number of validation images."""
        return int(len(self.x_val))

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.x_train.shape[1])

    def class_counts(self, split: str = "train") -> dict[str, int]:
        """Images per class in ``"train"``, ``"val"`` or ``"all"``, in ``class_names`` order.

        Example:
            >>> data.class_counts("val")  # doctest: +SKIP
            {'cats': 8, 'dogs': 8}
        """
        labels = {"train": self.y_train, "val": self.y_val}.get(split)
        if split == "all":
            labels = np.concatenate([self.y_train, self.y_val])
        if labels is None:
            raise ValueError(f"class_counts(split={split!r}): use 'train', 'val' or 'all'")
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=self.num_classes)
        return {name: int(counts[i]) for i, name in enumerate(self.class_names)}

    def _dataset(self, x, y, batch_size, shuffle, augment):
        import tensorflow as tf

        images = tf.convert_to_tensor(x)  # uint8: a quarter of float32's memory
        labels = tf.convert_to_tensor(np.asarray(y, dtype=np.int32))
        dataset = tf.data.Dataset.range(len(x))
        if shuffle:
            # Shuffle indices, not images: a full-size buffer costs 8 bytes per image.
            dataset = dataset.shuffle(len(x), seed=self.seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or self.batch_size).map(
            lambda idx: (tf.cast(tf.gather(images, idx), tf.float32), tf.gather(labels, idx)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if augment is not None:
            call = _augment_call(augment)
            dataset = dataset.map(lambda a, b: (call(a), b), num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def train_dataset(self, batch_size: int | None = None, shuffle: bool = True, augment=None):
        """Training images as a ``tf.data.Dataset`` of (float32 0..255 images, int32 labels) batches.

        Args:
            batch_size: images per batch (default: ``self.batch_size``, 32 unless set at load).
            shuffle: reshuffle every epoch (seeded with ``self.seed``).
            augment: optional augmentation applied to each float32 batch: a Keras layer or
                ``keras.Sequential`` (called with ``training=True``) or any function of the batch.

        Returns:
            a prefetched ``tf.data.Dataset``.
        """
        return self._dataset(self.x_train, self.y_train, batch_size, shuffle, augment)

    def val_dataset(self, batch_size: int | None = None):
        """Validation images as a ``tf.data.Dataset`` of (float32 0..255, int32) batches, in order.

        Raises:
            DataError: there are no validation images (``val_split=0`` and no ``val_dir``).
        """
        if self.n_val == 0:
            raise DataError(
                f"no validation images in {self.source or 'this data'}: load with val_split > 0 or val_dir=..."
            )
        return self._dataset(self.x_val, self.y_val, batch_size, False, None)

    def __repr__(self) -> str:
        return (
            f"ImageData({self.num_classes} classes {self.class_names}, {self.n_train} train / "
            f"{self.n_val} val at {self.image_size}×{self.image_size}, {len(self.skipped)} skipped, "
            f"source={self.source!r})"
        )


def _augment_call(augment):
    try:
        import keras

        if isinstance(augment, keras.layers.Layer):
            return lambda batch: augment(batch, training=True)
    except ImportError:
        pass
    return augment
