"""Damaged and shared cache entries (issue 12, items 3 and 4): the faults are made here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ftlab import settings
from ftlab.cachefile import load_cached
from ftlab.data import images


def _folder(root, seed):
    rng = np.random.default_rng(seed)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / name / f"{i}.bmp")
    return root


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_load_cached_reports_and_deletes_a_truncated_npz(tmp_path, capsys):
    path = tmp_path / "entry.npz"
    np.savez(path, x=np.arange(1000))
    assert load_cached(path, lambda npz: npz["x"].sum()) == sum(range(1000))
    _truncate(path)
    assert load_cached(path, lambda npz: npz["x"], "image cache file") is None
    err = capsys.readouterr().err
    assert f"image cache file {path} is damaged" in err and "rebuilding" in err
    assert not path.exists()


def test_truncated_image_cache_is_rebuilt_with_a_message(tmp_path, capsys):
    root = _folder(tmp_path / "data", 0)
    first = images.load_image_folder(root, image_size=8, val_split=0.34, verbose=False)
    (cache_file,) = settings.cache_dir("images").iterdir()
    _truncate(cache_file)  # a BadZipFile from np.load
    again = images.load_image_folder(root, image_size=8, val_split=0.34, verbose=False)
    assert not again.cached and np.array_equal(again.x_train, first.x_train)
    assert str(cache_file) in capsys.readouterr().err
    assert images.load_image_folder(root, image_size=8, val_split=0.34, verbose=False).cached


def test_two_folders_with_equal_names_sizes_and_times_do_not_share_the_cache(tmp_path):
    one = _folder(tmp_path / "one" / "data", 0)
    two = _folder(tmp_path / "two" / "data", 1)
    for file in one.rglob("*.bmp"):  # same names, sizes and mtimes, other pixels
        twin = two / file.relative_to(one)
        assert twin.stat().st_size == file.stat().st_size  # uncompressed BMP
        os.utime(twin, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns))
    a = images.load_image_folder(one, image_size=8, val_split=0.34, verbose=False)
    b = images.load_image_folder(two, image_size=8, val_split=0.34, verbose=False)
    assert not b.cached and not np.array_equal(a.x_train, b.x_train)
    # the same folder moved elsewhere, or rewritten with equal size and time, is decoded again too
    shutil.copytree(one, tmp_path / "three" / "data")
    assert not images.load_image_folder(tmp_path / "three" / "data", image_size=8, val_split=0.34, verbose=False).cached
    file = one / "a" / "0.bmp"
    stat = file.stat()
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # one pixel byte: same size, same mtime below
    file.write_bytes(bytes(data))
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file.stat().st_size == stat.st_size
    assert not images.load_image_folder(one, image_size=8, val_split=0.34, verbose=False).cached


def test_truncated_video_cache_is_rebuilt_with_a_message(tmp_path, capsys):
    from ftlab.video import reader
    from ftlab.video.synthetic import write_clip

    root = tmp_path / "clips"
    rng = np.random.default_rng(0)
    for name in ("run", "wave"):
        (root / name).mkdir(parents=True)
        for i in range(2):
            write_clip(root / name / f"{i}.gif", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8))
    first = reader.load_video_folder(root, num_frames=4, size=16)
    (cache_file,) = settings.cache_dir("video", "clips").iterdir()
    _truncate(cache_file)
    again = reader.load_video_folder(root, num_frames=4, size=16)
    np.testing.assert_array_equal(first.clips, again.clips)
    assert str(cache_file) in capsys.readouterr().err and cache_file.is_file()


def test_symlink_loop_class_folder_is_skipped_and_reported(tmp_path):
    root = _folder(tmp_path / "data", 0)
    (root / "loopclass").symlink_to(".")
    (root / "a_again").symlink_to("b")  # sorts first, but the real folder b keeps its name
    (root / "a" / "inner").symlink_to("..")  # a loop inside a class is not followed either
    data = images.load_image_folder(root, image_size=8, val_split=0.34, verbose=False)
    assert data.class_names == ["a", "b"]
    assert data.class_counts("all") == {"a": 3, "b": 3}
    reasons = {path.name: reason for path, reason in data.skipped}
    assert "symlink loop" in reasons["loopclass"] and "already used" in reasons["a_again"]


def test_unreadable_class_folder_is_named_unreadable(tmp_path, monkeypatch):
    import pytest

    from ftlab.errors import DataError

    root = _folder(tmp_path / "data", 0)
    (root / "c").mkdir()
    for i in range(3):
        Image.new("RGB", (12, 12), (i * 40, 0, 0)).save(root / "c" / f"{i}.bmp")
    real_scandir = os.scandir
    denied = set()

    def scandir(path="."):  # chmod 000 does not stop root, so the denial is injected here
        if os.fspath(path) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    denied.add(str(root / "c"))
    data = images.load_image_folder(root, image_size=8, val_split=0.34, cache=False, verbose=False)
    assert data.class_names == ["a", "b"]
    reasons = {path: reason for path, reason in data.skipped}
    assert "class folder is unreadable" in reasons[root / "c"]
    denied.add(str(root / "b"))
    with pytest.raises(DataError, match=r"'b', 'c' cannot be read: permission denied"):
        images.load_image_folder(root, image_size=8, val_split=0.34, cache=False, verbose=False)


def test_class_without_validation_images_is_flagged_not_scored_silently():
    import pytest

    from ftlab import metrics

    with pytest.warns(UserWarning, match="'rare' have no validation images"):
        report = metrics.classification_report([0, 0, 1], [0, 0, 1], ["cat", "dog", "rare"])
    assert report["balanced_accuracy"] == 1.0 and report["unvalidated_classes"] == ["rare"]
    assert report["per_class_recall"]["rare"] is None


def test_interrupted_save_leaves_no_tmp_keras_and_keeps_the_old_model(tmp_path):
    import pytest

    from ftlab import train

    out = tmp_path / "model.keras"
    out.write_bytes(b"the previous model")

    class Interrupted:
        def save(self, path):
            Path(path).write_bytes(b"half a zip")  # killed half-way through writing
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.save_model(Interrupted(), out, {"class_names": ["a", "b"]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    assert out.read_bytes() == b"the previous model"
