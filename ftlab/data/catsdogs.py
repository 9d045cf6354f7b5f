"""Lesson 01's online data sets: real cats-vs-dogs photos and a five-class flower set.

Introduced in lesson 01. Both are downloaded once through :func:`ftlab.download.fetch` (sha256
checked, mirrors tried in order, atomic cache), decoded with
:func:`ftlab.data.images.load_image_folder` (bad files skipped and listed) and subsampled to a
few images per class, the regime the lesson is about.

* :func:`cats_vs_dogs` — the Oxford-IIIT Pet images (Parkhi et al., 2012; CC BY-SA 4.0),
  7,390 photos of 12 cat and 25 dog breeds. The species is in the file name: cat breeds are
  capitalised (``Abyssinian_1.jpg``), dog breeds are not (``beagle_1.jpg``), as the data set's
  README says. Used instead of the Microsoft "Kaggle cats and dogs" zip behind tfds'
  ``cats_vs_dogs``, whose link has moved before (tfds issues #3918, #3925, #3969) and for which
  no published sha256 of the current file exists.
* :func:`flowers` — TensorFlow's ``flower_photos`` (The TensorFlow Team, CC BY 2.0), 3,670
  photos of daisies, dandelions, roses, sunflowers and tulips: the multi-class set, few of whose
  classes ImageNet-1k has (only "daisy"), so it is real transfer.

The sha256 values are those tensorflow-datasets publishes in ``url_checksums/oxford_iiit_pet.txt``
and ``url_checksums/tf_flowers.txt``. Offline, or when every URL fails, the error says exactly
where to put a manually downloaded file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.errors import DataError


@dataclass(frozen=True)
class OnlineSource:
    """A downloadable archive: where it lives, its checksum, and what is inside."""

    name: str
    url: str
    sha256: str
    mirrors: tuple = field(default_factory=tuple)
    size_mb: int = 0
    description: str = ""
    license: str = ""
    homepage: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


PETS = OnlineSource(
    name="oxford_iiit_pet",
    url="https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
    # The second mirror is the one tensorflow-datasets lists (oxford_iiit_pet.py).
    mirrors=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
             "https://thor.robots.ox.ac.uk/~vgg/data/pets/images.tar.gz"),
    sha256="67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
    size_mb=792,
    description="Oxford-IIIT Pet images (cats vs dogs)",
    license="CC BY-SA 4.0",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/pets/",
)
FLOWERS = OnlineSource(
    name="tf_flowers",
    url="https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz",
    mirrors=("http://download.tensorflow.org/example_images/flower_photos.tgz",),
    sha256="4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
    size_mb=229,
    description="TensorFlow flower photos (5 classes)",
    license="CC BY 2.0",
    homepage="https://www.tensorflow.org/datasets/catalog/tf_flowers",
)
SOURCES = {source.name: source for source in (PETS, FLOWERS)}


def manual_download_message(source: OnlineSource) -> str:
    """How to get an archive by hand when its links have moved or the machine is offline.

    Example:
        >>> print(manual_download_message(PETS).splitlines()[0])
        Oxford-IIIT Pet images (cats vs dogs), 792 MB: download images.tar.gz by hand
    """
    from ftlab import settings

    target = settings.cache_dir("downloads") / source.filename
    urls = "\n".join(f"    {url}" for url in (source.url, *source.mirrors))
    return (f"{source.description}, {source.size_mb} MB: download {source.filename} by hand\n"
            f"  from one of:\n{urls}\n  (or search its home page {source.homepage})\n"
            f"  and put it at {target}\n"
            f"  its sha256 must be {source.sha256} (ftlab checks it);\n"
            f"  then run this cell again. Licence: {source.license}.")


def _fetch(source: OnlineSource) -> Path:
    from ftlab import download
    from ftlab.errors import DownloadError, OfflineError

    try:
        return download.fetch(source.url, source.sha256, fname=source.filename, mirrors=source.mirrors,
                              extract=True, description=f"{source.description}, {source.size_mb} MB")
    except (DownloadError, OfflineError) as error:
        raise type(error)(f"{error}\n{manual_download_message(source)}") from None


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source, target)
    except OSError:
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def pets_species_folder(extracted: Path) -> Path:
    """A ``cat/`` + ``dog/`` view of the flat Oxford-IIIT Pet ``images/`` folder (links, built once).

    Built in a temporary folder and renamed into place, so an interrupted run leaves nothing
    half-made.

    Example:
        >>> folder = pets_species_folder(Path("~/.cache/ftlab/downloads/images"))  # doctest: +SKIP
        >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
        ['cat', 'dog']
    """
    extracted = Path(extracted)
    images = extracted / "images" if (extracted / "images").is_dir() else extracted
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise DataError(f"{images}: no Oxford-IIIT Pet images found; delete the folder and run again, or "
                        f"{manual_download_message(PETS)}")
    target = extracted.parent / f"{extracted.name}-species"
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(dir=extracted.parent, prefix=f".{target.name}-"))
    try:
        for species in ("cat", "dog"):
            (tmp / species).mkdir()
        for photo in photos:
            species = "cat" if photo.name[0].isupper() else "dog"
            _link_or_copy(photo.resolve(), tmp / species / photo.name)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _load(folder: Path, source: OnlineSource, train_per_class: int, val_per_class: int, image_size: int,
          seed: int, verbose: bool):
    from ftlab.data.images import load_image_folder

    per_class = train_per_class + val_per_class
    data = load_image_folder(folder, image_size=image_size, val_split=val_per_class / per_class,
                             seed=seed, max_per_class=per_class, verbose=verbose)
    data.source = (f"online: {source.description} ({source.license}), {data.num_classes} classes × "
                   f"{train_per_class} train / {val_per_class} val, {image_size}px")
    return data


def cats_vs_dogs(train_per_class: int = 20, val_per_class: int = 40, image_size: int = 96, seed: int = 0,
                 verbose: bool = True):
    """Real photos of cats and dogs (Oxford-IIIT Pet), a few per class.

    Downloads ``images.tar.gz`` (792 MB, once; sha256-checked, two URLs), files each photo
    under ``cat`` or ``dog`` by its breed name, and loads a seeded sample.

    Args:
        train_per_class, val_per_class: images per class in each split.
        image_size: side of the square images.
        seed: sampling and split seed.
        verbose: progress and a one-line summary.

    Returns:
        ``ftlab.data.images.ImageData`` with classes ``["cat", "dog"]``.

    Raises:
        OfflineError / DownloadError: with :func:`manual_download_message` appended.

    Example:
        >>> data = cats_vs_dogs(train_per_class=10)  # doctest: +SKIP
        >>> data.class_names  # doctest: +SKIP
        ['cat', 'dog']
    """
    folder = pets_species_folder(_fetch(PETS))
    return _load(folder, PETS, train_per_class, val_per_class, image_size, seed, verbose)


BUNDLED_FLOWERS = Path(__file__).resolve().parents[1] / "assets" / "flowers" / "photos"
BUNDLED_PER_CLASS = 120


def bundled_flowers(train_per_class: int = 10, val_per_class: int = 30, image_size: int = 96, seed: int = 0,
                    verbose: bool = True):
    """The 600 flower photos that ship with ftlab (120 per class; CC BY 2.0, credits beside them).

    Introduced in lesson 01, whose offline default they are: the same five classes as
    :func:`flowers`, real photos from the same set, so offline and online are the same task.
    Files live in ``ftlab/assets/flowers/photos/<class>/`` (``ftlab/assets/flowers/ATTRIBUTION.txt``
    credits each photographer).

    Args:
        train_per_class, val_per_class: images per class in each split; together at most 120.

    Example:
        >>> data = bundled_flowers(train_per_class=10, val_per_class=40, verbose=False)  # doctest: +SKIP
        >>> data.class_names  # doctest: +SKIP
        ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
    """
    from ftlab.data.images import load_image_folder

    per_class = train_per_class + val_per_class
    if not 2 <= per_class <= BUNDLED_PER_CLASS or min(train_per_class, val_per_class) < 1:
        raise DataError(f"bundled_flowers(train_per_class={train_per_class}, val_per_class={val_per_class}): "
                        f"the bundled set has {BUNDLED_PER_CLASS} photos per class; ask for at least 1 of each "
                        f"and at most {BUNDLED_PER_CLASS} in all (or use flowers() online for more)")
    data = load_image_folder(BUNDLED_FLOWERS, image_size=image_size, val_split=val_per_class / per_class,
                             seed=seed, max_per_class=per_class, verbose=verbose)
    data.source = (f"offline: the {5 * BUNDLED_PER_CLASS} flower photos bundled with ftlab (tf_flowers, CC BY 2.0), "
                   f"{data.num_classes} classes × {train_per_class} train / {val_per_class} val, {image_size}px")
    return data


def flowers(train_per_class: int = 10, val_per_class: int = 30, image_size: int = 96, seed: int = 0,
            verbose: bool = True, fallback: bool = True):
    """Five kinds of flowers (TensorFlow's ``flower_photos``), a few per class.

    Downloads ``flower_photos.tgz`` (229 MB, once; sha256-checked, two URLs). Offline
    (``FTLAB_OFFLINE=1``), or when the download fails and ``fallback`` is true, it prints one line
    and returns :func:`bundled_flowers` instead: the same classes, from the 600 bundled photos.

    Returns:
        ``ftlab.data.images.ImageData`` with classes daisy, dandelion, roses, sunflowers, tulips;
        ``.source`` says which photos were used.

    Example:
        >>> data = flowers(train_per_class=10)  # doctest: +SKIP
    """
    from ftlab import settings
    from ftlab.errors import DownloadError, OfflineError

    bundled = train_per_class + val_per_class <= BUNDLED_PER_CLASS
    if settings.is_offline() and fallback and bundled:
        return bundled_flowers(train_per_class, val_per_class, image_size, seed, verbose)
    try:
        extracted = _fetch(FLOWERS)
    except (DownloadError, OfflineError) as error:
        if not (fallback and bundled):
            raise
        print(f"flower_photos.tgz unavailable ({str(error).splitlines()[0]}); using the bundled flower photos")
        return bundled_flowers(train_per_class, val_per_class, image_size, seed, verbose)
    folder = extracted / "flower_photos" if (extracted / "flower_photos").is_dir() else extracted
    return _load(folder, FLOWERS, train_per_class, val_per_class, image_size, seed, verbose)
