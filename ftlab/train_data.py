"""The ``tf.data`` pipeline of phase 2 and its augmentation (random resized crops, flips).

Holds :func:`image_dataset` and :func:`random_resized_crop` (``ftlab.train`` re-exports them); used by
:func:`ftlab.train.finetune` in lessons 00-02 and by ``ftlab evaluate`` / ``predict``.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import numpy as np


def image_dataset(images, labels, batch_size=32, shuffle=False, seed=0, augment=False):
    """A ``tf.data`` pipeline over uint8 arrays, cast to float32 per batch (never the whole array).

    With ``augment=True`` each image is a random resized crop (area 40–100 %, aspect 3:4–4:3,
    resized back to the input side) flipped left-right half the time: the training-time
    counterpart of :func:`ftlab.data.images.center_crop_resize`.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, dtype="int32")))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if augment:
        side = tuple(int(v) for v in np.asarray(images).shape[1:3])
        dataset = dataset.map(lambda x, y: (random_resized_crop(x, side, seed), y),
                              num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def random_resized_crop(image, side, seed=0, area=(0.4, 1.0), aspect=(3 / 4, 4 / 3)):
    """One image (``uint8 (h, w, 3)`` tensor) → a random crop of it resized to ``side``, maybe flipped."""
    import tensorflow as tf

    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), tf.zeros((1, 0, 4)), seed=seed, min_object_covered=0.0,
        aspect_ratio_range=aspect, area_range=area, max_attempts=10, use_image_if_no_bounding_boxes=True,
    )
    crop = tf.image.resize(tf.slice(image, begin, size), side, method="bilinear")
    crop = tf.image.random_flip_left_right(crop, seed=seed)
    return tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)
