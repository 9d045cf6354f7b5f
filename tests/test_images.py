"""ftlab.data.images on small folders the tests write with Pillow (tiny images, image_size 32)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ftlab.data
from ftlab import settings
from ftlab.data import images
from ftlab.errors import DataError

SIZE = 32


def _noise(seed: int, shape=(20, 24, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _jpeg(path: Path, seed: int, shape=(20, 24, 3)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_noise(seed, shape)).save(path, quality=95)
    return path


def _png16_rgb(path: Path, rgb16: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one, so write the chunks by hand)."""
    height, width, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def _write_messy_folder(root: Path) -> dict:
    """A folder with every kind of file the loader must handle; returns what to expect."""
    cats, dogs = root / "cats", root / "dogs"
    good = [_jpeg(cats / f"cat{i}.jpg", i) for i in range(6)] + [
        _jpeg(dogs / f"dog{i}.jpg", 100 + i) for i in range(6)
    ]

    truncated = cats / "truncated.jpg"
    data = (cats / "cat0.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])

    alpha = np.zeros((16, 16, 4), np.uint8)
    alpha[:8] = (255, 0, 0, 128)  # top half: half-transparent red
    Image.fromarray(alpha, "RGBA").save(cats / "alpha.png")  # bottom half: fully transparent black

    gray = np.tile(np.arange(0, 240, 15, dtype=np.uint8), (12, 1))
    Image.fromarray(gray, "L").save(cats / "gray.png")

    Image.new("RGB", (16, 16), (255, 0, 0)).convert("CMYK").save(dogs / "cmyk.jpg", quality=95)

    Image.fromarray(np.full((10, 12), 65535, np.uint16)).save(dogs / "sixteen.png")
    rgb16 = np.zeros((10, 12, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32896, 257 * 7
    _png16_rgb(dogs / "rgb16.png", rgb16)

    palette = Image.new("P", (12, 12), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (0, 0, 12, 6))  # top half green, bottom half index 0 = transparent
    palette.save(dogs / "palette.png", transparency=0)

    Image.new("RGB", (2, 2), (1, 2, 3)).save(cats / "tiny.png")
    (dogs / "fake.jpg").write_text("this is a text file renamed .jpg")
    (cats / "notes.txt").write_text("not an image")
    (root / "README.txt").write_text("my photos")
    duplicate = cats / "cat0_copy.jpg"
    duplicate.write_bytes((cats / "cat0.jpg").read_bytes())

    # ignored entirely
    _jpeg(root / ".ipynb_checkpoints" / "x.jpg", 7)
    _jpeg(cats / ".ipynb_checkpoints" / "cat0-checkpoint.jpg", 8)
    (cats / ".DS_Store").write_bytes(b"\0\1")

    converted = {*good, cats / "alpha.png", cats / "gray.png", dogs / "cmyk.jpg", dogs / "sixteen.png",
                 dogs / "rgb16.png", dogs / "palette.png"}  # fmt: skip
    skipped = {
        truncated: "truncated or corrupt",
        cats / "tiny.png": "too small",
        dogs / "fake.jpg": "not an image",
        cats / "notes.txt": "not an image file",
        root / "README.txt": "not inside a class sub-folder",
        duplicate: "duplicate of",
    }
    return {"converted": converted, "skipped": skipped, "duplicate_group": [cats / "cat0.jpg", duplicate]}


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "photos"
    expected = _write_messy_folder(root)
    return root, expected


def _reasons(skipped) -> dict[Path, str]:
    return {Path(p): reason for p, reason in skipped}


# ---------------------------------------------------------------------------------- decode_image


def test_decode_image_conversions(messy):
    root, _ = messy
    jpg = images.decode_image(root / "cats" / "cat1.jpg")
    assert jpg.shape == (20, 24, 3) and jpg.dtype == np.uint8

    alpha = images.decode_image(root / "cats" / "alpha.png").astype(int)
    assert alpha.shape == (16, 16, 3)
    assert (alpha[8:] == 255).all(), "fully transparent pixels become white"
    assert np.abs(alpha[0, 0] - [255, 127, 127]).max() <= 1, "half-transparent red over white is pink"

    gray = images.decode_image(root / "cats" / "gray.png")
    assert gray.shape == (12, 16, 3)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert gray[0, :3, 0].tolist() == [0, 15, 30]

    cmyk = images.decode_image(root / "dogs" / "cmyk.jpg").astype(int)
    assert np.abs(cmyk.mean(axis=(0, 1)) - [255, 0, 0]).max() < 6, "CMYK red stays red"

    assert (images.decode_image(root / "dogs" / "sixteen.png") == 255).all(), "16-bit white is 8-bit white"
    rgb16 = images.decode_image(root / "dogs" / "rgb16.png")
    assert rgb16[0, 0].tolist() == [255, 128, 7]

    palette = images.decode_image(root / "dogs" / "palette.png")
    assert palette[0, 0].tolist() == [0, 255, 0] and palette[-1, -1].tolist() == [255, 255, 255]


def test_decode_image_16bit_gray_scaling(tmp_path):
    values = np.array([[0, 257, 32768, 65535] * 3] * 9, np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    decoded = images.decode_image(tmp_path / "g16.png")
    assert decoded[0, :4, 0].tolist() == [0, 1, 128, 255]


def test_decode_image_applies_exif_orientation(tmp_path):
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, :10] = (255, 0, 0)  # left half red, right half blue
    wide[:, 10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(wide).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = images.decode_image(tmp_path / "phone.jpg").astype(int)
    assert upright.shape == (20, 10, 3)
    assert upright[2, 5, 0] > 200 and upright[2, 5, 2] < 60, "the red half is on top after rotating"
    assert upright[-3, 5, 2] > 200 and upright[-3, 5, 0] < 60


@pytest.mark.parametrize(
    "name,reason",
    [
        ("cats/truncated.jpg", "truncated or corrupt"),
        ("cats/tiny.png", "too small"),
        ("dogs/fake.jpg", "not an image"),
    ],
)
def test_decode_image_errors(messy, name, reason):
    root, _ = messy
    with pytest.raises(images.ImageDecodeError) as info:
        images.decode_image(root / name)
    assert isinstance(info.value, DataError)
    assert info.value.path == root / name
    assert info.value.reason.startswith(reason)
    assert str(root / name) in str(info.value)


def test_decode_image_missing_file(tmp_path):
    with pytest.raises(images.ImageDecodeError, match="file not found"):
        images.decode_image(tmp_path / "nope.jpg")


def test_truncated_images_stay_refused_globally():
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_draft_decoding_keeps_at_least_the_requested_size(tmp_path):
    _jpeg(tmp_path / "big.jpg", 1, shape=(400, 640, 3))
    small = images.decode_image(tmp_path / "big.jpg", draft_size=64)
    assert small.shape[0] >= 64 and small.shape[1] >= 64 and small.shape[0] < 400


# ---------------------------------------------------------------------------------- scan / inspect


def test_scan_folder_lists_classes_skips_and_duplicates(messy):
    root, expected = messy
    scan = images.scan_folder(root, check_images=True)
    assert scan.class_names == ["cats", "dogs"]
    assert scan.checked
    reasons = _reasons(scan.skipped)
    # the scan keeps duplicates as files (it reports them); loading drops the copies
    listed = {path for path, _ in scan.files}
    assert listed == expected["converted"] | {expected["duplicate_group"][1]}
    assert set(reasons) == set(expected["skipped"]) - {expected["duplicate_group"][1]}
    for path, reason in reasons.items():
        assert reason.startswith(expected["skipped"][path]), (path, reason)
    assert scan.duplicates == [expected["duplicate_group"]]
    assert scan.class_counts() == {"cats": 6 + 2 + 1, "dogs": 6 + 4}
    assert all(
        ".ipynb_checkpoints" not in str(p) and ".DS_Store" not in str(p) for p, _ in scan.files + scan.skipped
    )


def test_scan_without_decoding_only_uses_extensions(messy):
    root, _ = messy
    scan = images.scan_folder(root)
    assert not scan.checked
    reasons = _reasons(scan.skipped)
    assert root / "cats" / "truncated.jpg" not in reasons  # found only when decoded
    assert reasons[root / "cats" / "notes.txt"].startswith("not an image file")


def test_inspect_folder_prints_table(messy, capsys):
    root, _ = messy
    scan = images.inspect_folder(root, verbose=False)
    out = capsys.readouterr().out
    assert isinstance(scan, images.FolderScan)
    assert f"Image folder {root}: 2 classes, 19 images" in out
    assert "cats" in out and "dogs" in out
    assert "cats/truncated.jpg" in out and "truncated or corrupt" in out
    assert "README.txt" in out and "not inside a class sub-folder" in out
    assert "cats/cat0.jpg = cats/cat0_copy.jpg" in out


def test_folder_errors_name_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as info:
        images.scan_folder(missing)
    assert str(missing) in str(info.value)

    a_file = tmp_path / "file.jpg"
    a_file.write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        images.load_image_folder(a_file, image_size=SIZE, verbose=False)

    flat = tmp_path / "flat"
    _jpeg(flat / "a.jpg", 1)
    with pytest.raises(DataError, match="no class sub-folders") as info:
        images.scan_folder(flat)
    assert str(flat) in str(info.value) and "1 images lie directly in it" in str(info.value)

    empty = tmp_path / "empty"
    (empty / "cats").mkdir(parents=True)
    (empty / "dogs").mkdir()
    (empty / "dogs" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no usable images") as info:
        images.load_image_folder(empty, image_size=SIZE, verbose=False)
    assert str(empty) in str(info.value)

    single = tmp_path / "single"
    _jpeg(single / "cats" / "a.jpg", 1)
    _jpeg(single / "cats" / "b.jpg", 2)
    with pytest.raises(DataError) as info:
        images.scan_folder(single)
    assert f"needs at least two class sub-folders, found only 'cats' in {single}" in str(info.value)
    assert "\n" not in str(info.value)


def test_class_with_only_broken_files_is_reported_and_left_out(tmp_path):
    root = tmp_path / "three"
    for i in range(3):
        _jpeg(root / "cats" / f"{i}.jpg", i)
        _jpeg(root / "dogs" / f"{i}.jpg", 10 + i)
    (root / "birds").mkdir()
    (root / "birds" / "broken.jpg").write_text("not a jpeg")
    data = images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert data.class_names == ["cats", "dogs"]
    reasons = _reasons(data.skipped)
    assert reasons[root / "birds" / "broken.jpg"].startswith("not an image")
    assert reasons[root / "birds"].startswith("class folder has no usable images")
    scan = images.scan_folder(root, check_images=True)
    assert scan.empty_classes == ["birds"] and scan.class_names == ["cats", "dogs"]

    # with only one class left, the error says which one and which folder had nothing usable
    for path in (root / "dogs").iterdir():
        path.write_bytes(b"broken")
    with pytest.raises(DataError, match="found only 'cats'") as info:
        images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert "'birds', 'dogs' has no usable images" in str(info.value)


# ---------------------------------------------------------------------------------- load_image_folder


def test_load_image_folder_converts_and_skips_exactly(messy):
    root, expected = messy
    data = images.load_image_folder(root, image_size=SIZE, val_split=0.2, verbose=False)
    assert set(data.train_paths) | set(data.val_paths) == expected["converted"]
    assert not set(data.train_paths) & set(data.val_paths)
    reasons = _reasons(data.skipped)
    assert set(reasons) == set(expected["skipped"])
    for path, reason in reasons.items():
        assert reason.startswith(expected["skipped"][path]), (path, reason)
    assert "cat0.jpg" in reasons[expected["duplicate_group"][1]]

    assert data.class_names == ["cats", "dogs"]
    assert data.x_train.shape == (data.n_train, SIZE, SIZE, 3) and data.x_train.dtype == np.uint8
    assert data.x_val.shape == (data.n_val, SIZE, SIZE, 3)
    assert data.n_train + data.n_val == len(expected["converted"]) == 18
    assert data.class_counts("all") == {"cats": 8, "dogs": 10}
    assert data.class_counts("val") == {"cats": 2, "dogs": 2}  # round(8 * .2), round(10 * .2)
    assert str(root) in data.source
    # labels follow the folders, images follow the files
    for x, y, path in zip(data.x_train, data.y_train, data.train_paths, strict=True):
        assert data.class_names[y] == path.parent.name
        if path.name == "alpha.png":
            assert (x[-4:] == 255).all()


def test_stratified_split_counts_and_seed(tmp_path):
    root = tmp_path / "split"
    sizes = {"a": 10, "b": 5, "c": 2, "d": 1}
    for name, n in sizes.items():
        for i in range(n):
            _jpeg(root / name / f"{i}.png", hash((name, i)) % 10_000, shape=(9, 9, 3))
    data = images.load_image_folder(root, image_size=SIZE, val_split=0.2, seed=1, verbose=False)
    assert data.class_counts("val") == {"a": 2, "b": 1, "c": 1, "d": 0}
    assert data.class_counts("train") == {"a": 8, "b": 4, "c": 1, "d": 1}
    again = images.load_image_folder(root, image_size=SIZE, val_split=0.2, seed=1, verbose=False)
    assert again.val_paths == data.val_paths and np.array_equal(again.x_val, data.x_val)
    other_seeds = [
        images.load_image_folder(root, image_size=SIZE, val_split=0.2, seed=s, verbose=False).val_paths
        for s in (2, 3, 4)
    ]
    assert any(paths != data.val_paths for paths in other_seeds)
    everything = images.load_image_folder(root, image_size=SIZE, val_split=0.0, verbose=False)
    assert everything.n_val == 0 and everything.n_train == 18
    with pytest.raises(DataError, match="no validation images"):
        everything.val_dataset()


def test_max_per_class(tmp_path):
    root = tmp_path / "many"
    for name in ("a", "b"):
        for i in range(7):
            _jpeg(root / name / f"{i}.jpg", hash((name, i)) % 10_000, shape=(9, 9, 3))
    data = images.load_image_folder(root, image_size=SIZE, val_split=0.25, max_per_class=4, verbose=False)
    assert data.class_counts("all") == {"a": 4, "b": 4}
    assert data.class_counts("val") == {"a": 1, "b": 1}


def test_second_load_reads_the_cache(messy, monkeypatch):
    root, _ = messy
    first = images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert not first.cached
    cache_files = sorted(settings.cache_dir("images").iterdir())
    assert len(cache_files) == 1 and cache_files[0].suffix == ".npz", "one cache file, no temporary left"

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(images, "_open_rgb", no_decoding)
        second = images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert second.cached
    assert np.array_equal(second.x_train, first.x_train) and np.array_equal(second.y_val, first.y_val)
    assert second.train_paths == first.train_paths and _reasons(second.skipped) == _reasons(first.skipped)

    # a changed file (new mtime and size) means decoding again
    changed = root / "cats" / "cat1.jpg"
    _jpeg(changed, 999, shape=(22, 24, 3))
    os.utime(changed, ns=(1, 1))
    third = images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert not third.cached
    # a different image size is another cache entry
    assert not images.load_image_folder(root, image_size=16, verbose=False).cached
    assert len(list(settings.cache_dir("images").iterdir())) == 3


def test_cache_off_writes_nothing(messy):
    root, _ = messy
    images.load_image_folder(root, image_size=SIZE, cache=False, verbose=False)
    assert list(settings.cache_dir("images").iterdir()) == []


def test_corrupt_cache_file_is_rebuilt(messy):
    root, _ = messy
    images.load_image_folder(root, image_size=SIZE, verbose=False)
    (cache_file,) = settings.cache_dir("images").iterdir()
    cache_file.write_bytes(b"garbage")
    data = images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert not data.cached and data.n_train + data.n_val == 18
    assert images.load_image_folder(root, image_size=SIZE, verbose=False).cached


def test_val_dir(tmp_path):
    train, val = tmp_path / "train", tmp_path / "val"
    for i in range(4):
        _jpeg(train / "cats" / f"{i}.jpg", i)
        _jpeg(train / "dogs" / f"{i}.jpg", 10 + i)
    _jpeg(val / "cats" / "v0.jpg", 20)
    _jpeg(val / "dogs" / "v1.jpg", 21)
    _jpeg(val / "dogs" / "v2.jpg", 22)
    (val / "dogs" / "leak.jpg").write_bytes((train / "dogs" / "0.jpg").read_bytes())
    data = images.load_image_folder(train, image_size=SIZE, val_dir=val, verbose=False)
    assert data.n_train == 8 and data.n_val == 3
    assert data.class_counts("val") == {"cats": 1, "dogs": 2}
    assert [data.class_names[y] for y in data.y_val] == [p.parent.name for p in data.val_paths]
    assert _reasons(data.skipped)[val / "dogs" / "leak.jpg"].startswith("same bytes as training file")
    assert str(val) in data.source

    _jpeg(val / "birds" / "b.jpg", 30)
    with pytest.raises(DataError, match="'birds'") as info:
        images.load_image_folder(train, image_size=SIZE, val_dir=val, verbose=False)
    assert str(val) in str(info.value) and str(train) in str(info.value)


def test_progress_bar_and_summary(tmp_path, capsys):
    root = tmp_path / "hundred"
    for name in "ab":
        (root / name).mkdir(parents=True)
    for i in range(110):
        Image.new("RGB", (8, 8), (i, 2 * i, 255 - i)).save(root / "ab"[i % 2] / f"{i}.png")
    data = images.load_image_folder(root, image_size=SIZE, verbose=True)
    captured = capsys.readouterr()
    assert "decoding images: 100%" in captured.err and "110/110" in captured.err  # tqdm's bar
    assert f"Loaded 110 images of 2 classes from {root}" in captured.out
    assert data.n_train == 88
    images.load_image_folder(root, image_size=SIZE, verbose=False)
    assert capsys.readouterr().err == ""


def test_tf_datasets(messy):
    import tensorflow as tf

    root, _ = messy
    data = images.load_image_folder(root, image_size=SIZE, batch_size=5, verbose=False)
    batches = list(data.train_dataset())
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 4]
    x, y = batches[0]
    assert x.dtype == tf.float32 and y.dtype == tf.int32 and tuple(x.shape[1:]) == (SIZE, SIZE, 3)
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(seen.tolist()) == sorted(data.y_train.tolist())
    assert float(tf.reduce_max(x)) <= 255.0 and float(tf.reduce_max(x)) > 1.0

    val = list(data.val_dataset(batch_size=3))
    assert np.array_equal(np.concatenate([b[0].numpy() for b in val]), data.x_val.astype(np.float32))
    assert np.array_equal(np.concatenate([b[1].numpy() for b in val]), data.y_val)

    flipped = next(iter(data.train_dataset(batch_size=50, shuffle=False, augment=lambda b: 255.0 - b)))[0]
    assert np.array_equal(flipped.numpy(), 255.0 - data.x_train.astype(np.float32))

    import keras

    layer = keras.layers.RandomFlip("horizontal", seed=0)
    out = next(iter(data.train_dataset(batch_size=4, augment=layer)))[0]
    assert out.dtype == tf.float32 and tuple(out.shape) == (4, SIZE, SIZE, 3)


def test_package_level_names():
    assert ftlab.data.load_image_folder is images.load_image_folder
    assert ftlab.data.images is images
    assert issubclass(ftlab.data.ImageDecodeError, DataError)
    with pytest.raises(AttributeError):
        ftlab.data.no_such_thing  # noqa: B018


def test_center_crop_resize_keeps_the_centre_and_the_aspect():
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :6] = wide[:, 34:] = 255  # white ends of the long side: cropped away
    wide[:, 6:34] = (200, 0, 0)  # the centre square (x 10..30) plus the bilinear filter's reach
    out = images.center_crop_resize(wide, 10)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert (out == (200, 0, 0)).all(), "only the centre square is kept, nothing is squashed"
    tall = Image.fromarray(np.swapaxes(wide, 0, 1))
    assert (images.center_crop_resize(tall, 10) == (200, 0, 0)).all()
    square = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(images.center_crop_resize(square, 16), square)


def test_folder_loader_predict_and_evaluate_share_the_centre_crop(tmp_path, monkeypatch):
    from ftlab.models import imagenet

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    data = images.load_image_folder(tmp_path, image_size=12, val_split=0, verbose=False)
    for x, path in zip(data.x_train, data.train_paths, strict=True):
        expected = images.center_crop_resize(images.decode_image(path), 12)
        assert np.array_equal(x, expected)
        assert np.array_equal(imagenet.resize_images(str(path), 12)[0], expected)
    # the decoded-image cache keys on the preprocessing: a change of it is never served stale
    key = images._cache_key(tmp_path, [(p, "a") for p in data.train_paths], 12)
    monkeypatch.setattr(images, "PREPROCESSING", "squashed")
    assert images._cache_key(tmp_path, [(p, "a") for p in data.train_paths], 12) != key
