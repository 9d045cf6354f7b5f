"""Real photographs that every install has: scikit-image's sample images, as ImageNet references.

Introduced in lesson 00 (what does a pretrained model see?) and used in lesson 01 to measure
forgetting: run the ImageNet classifier on :func:`reference_photos` before and after
fine-tuning and see how much of its ImageNet knowledge the new task overwrote.

Only photos that scikit-image 0.26 ships inside its wheel are used (no pooch download), so
this works offline. What the bundled EfficientNet-Lite0 says at 224×224 (PIL bilinear resize):

* ``cat`` — ``chelsea()``, Chelsea the tabby cat → Egyptian cat 285 (0.79), tiger cat, tabby
* ``coffee`` — ``coffee()``, an espresso cup on a saucer → espresso 967 (0.90), cup, coffee mug
* ``cameraman`` — ``camera()`` (grey), a man behind a camera on a tripod → tripod 872 (0.94)
* ``motorcycle`` — ``stereo_motorcycle()`` (left view), a motorcycle in a workshop →
  moped 665 (0.49), motor scooter 670 (0.34)
* ``rocket`` — ``rocket()``, a Falcon 9 on its pad next to the tower → drilling platform 540
  (0.43), missile 657, projectile 744
* ``clock`` — ``clock()`` (grey), a wall clock, motion-blurred → bubble 971 (0.54), spotlight,
  wall clock 892
* ``astronaut`` — ``astronaut()``, Eileen Collins in her flight suit → bobsled 450 (0.29),
  football helmet, go-kart

``astronaut`` is there on purpose: ImageNet-1k has no "astronaut" or "person" class, so the
model names the nearest things it knows. A classifier can only answer with its own labels.

Sources: scikit-image 0.26 (BSD-3-Clause), credits as in the docstrings of ``skimage.data``:
chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0; courtesy of Pikolo Espresso
Bar), camera (Lav Varshney, CC0), astronaut (NASA, public domain), rocket (SpaceX, released
into the public domain), stereo_motorcycle (Middlebury 2014 stereo benchmark, Scharstein et
al., down-sampled by scikit-image), clock (Stefan van der Walt, public domain).
"""

from __future__ import annotations

import numpy as np

# name -> (skimage.data function, ImageNet indices that count as a right answer in the top 5).
SAMPLES = {
    "cat": ("chelsea", (285, 281, 282)),  # Egyptian cat, tabby, tiger cat
    "coffee": ("coffee", (967, 968, 504)),  # espresso, cup, coffee mug
    "cameraman": ("camera", (872,)),  # tripod
    "motorcycle": ("stereo_motorcycle", (665, 670)),  # moped, motor scooter
    "rocket": ("rocket", (657, 744, 812)),  # missile, projectile, space shuttle
    "clock": ("clock", (892, 409)),  # wall clock, analog clock
    "astronaut": ("astronaut", ()),  # no ImageNet class: a lesson in label sets
}


def sample_photo(name: str) -> np.ndarray:
    """One sample photo as RGB ``uint8`` ``(height, width, 3)`` (grey ones repeated ×3).

    Example:
        >>> sample_photo("cat").shape
        (300, 451, 3)
    """
    import skimage.data

    from ftlab.errors import DataError

    if name not in SAMPLES:
        raise DataError(f"unknown sample photo {name!r}; choose from {', '.join(SAMPLES)}")
    image = getattr(skimage.data, SAMPLES[name][0])()
    if isinstance(image, tuple):  # stereo_motorcycle() returns (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def sample_photos() -> dict[str, np.ndarray]:
    """All sample photos, ``{name: RGB uint8 array}`` at their own sizes (see the table above).

    Example:
        >>> photos = sample_photos()
        >>> list(photos)[:2], photos["coffee"].shape
        (['cat', 'coffee'], (400, 600, 3))
    """
    return {name: sample_photo(name) for name in SAMPLES}


def expected_imagenet_classes(name: str) -> tuple[int, ...]:
    """ImageNet indices that count as a right answer for a sample photo (empty: none exists).

    Example:
        >>> expected_imagenet_classes("cat")
        (285, 281, 282)
    """
    from ftlab.errors import DataError

    if name not in SAMPLES:
        raise DataError(f"unknown sample photo {name!r}; choose from {', '.join(SAMPLES)}")
    return SAMPLES[name][1]


def reference_photos(size: int = 224) -> np.ndarray:
    """The sample photos resized to ``size × size`` and stacked: ``uint8 (7, size, size, 3)``.

    Same order as :func:`sample_photos`, same resize as training images
    (:func:`ftlab.data.images.center_crop_resize`: shorter side resized, centre square kept). Lesson 01 feeds them to the ImageNet classifier before and
    after fine-tuning to measure forgetting.

    Example:
        >>> reference_photos(96).shape
        (7, 96, 96, 3)
    """
    from ftlab.data.images import center_crop_resize

    return np.stack([center_crop_resize(photo, size) for photo in sample_photos().values()])
