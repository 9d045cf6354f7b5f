"""ftlab.video.synthetic: deterministic clips, real files in three formats, single frames uninformative."""

from __future__ import annotations

import numpy as np
import pytest

from ftlab import settings
from ftlab.video import reader, synthetic

MID = (100.0, 90.0, 0.3, 50.0)
AMOUNTS = (40.0, 2.0, 2.0)


def test_make_clip_is_deterministic_and_varied():
    a = synthetic.make_clip("grow", np.random.default_rng([1, 2]), num_frames=6, size=32)
    b = synthetic.make_clip("grow", np.random.default_rng([1, 2]), num_frames=6, size=32)
    c = synthetic.make_clip("grow", np.random.default_rng([1, 3]), num_frames=6, size=32)
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 10, "another seed, another scene"
    assert np.abs(a[0].astype(int) - a[-1]).mean() > 1, "frames change over time"
    with pytest.raises(ValueError, match="unknown action"):
        synthetic.make_clip("dance", np.random.default_rng(0))


@pytest.mark.parametrize("action, column, direction", [
    ("move_left", 0, -1), ("move_right", 0, 1), ("turn_clockwise", 2, -1),
    ("turn_anticlockwise", 2, 1), ("grow", 3, 1), ("shrink", 3, -1)])
def test_each_action_moves_one_quantity_the_right_way(action, column, direction):
    path = synthetic.figure_path(action, MID, AMOUNTS, 9)
    assert np.all(direction * np.diff(path[:, column]) > 0)
    others = [c for c in range(4) if c != column]
    np.testing.assert_allclose(path[:, others], np.tile(np.asarray(MID)[others], (9, 1)))


def test_middle_frame_is_the_same_for_every_action_and_mirrors_reverse_each_other():
    """Why one frame (or the set of frames) cannot tell the classes apart."""
    paths = {a: synthetic.figure_path(a, MID, AMOUNTS, 9) for a in synthetic.ACTIONS}
    for path in paths.values():
        np.testing.assert_allclose(path[4], MID)
    for a, b in [("move_left", "move_right"), ("turn_clockwise", "turn_anticlockwise"), ("grow", "shrink")]:
        np.testing.assert_allclose(paths[a], paths[b][::-1])


def test_write_action_dataset_uses_three_formats_that_the_reader_reads(tmp_path):
    root = synthetic.write_action_dataset(tmp_path / "actions", clips_per_class=10, size=32,
                                          frame_range=(8, 10), actions=("grow", "shrink"))
    files = sorted(p.name for p in root.rglob("*") if p.is_file())
    suffixes = [name.rsplit(".", 1)[1] for name in files]
    assert suffixes.count("mp4") == 14 and suffixes.count("avi") == 4 and suffixes.count("gif") == 2
    data = reader.load_video_folder(root, num_frames=8, size=32)
    assert len(data) == 20 and not data.skipped and data.class_names == ["grow", "shrink"]


def test_synthetic_actions_is_cached_atomically_and_splits_differ():
    pair = ("grow", "shrink")
    train = synthetic.synthetic_actions("train", clips_per_class=2, size=32, actions=pair)
    again = synthetic.synthetic_actions("train", clips_per_class=2, size=32, actions=pair)
    val = synthetic.synthetic_actions("val", clips_per_class=2, size=32, actions=pair)
    assert train == again and train != val
    assert sorted(p.name for p in train.iterdir()) == ["grow", "shrink"]
    parent = settings.cache_dir("video", "synthetic")
    assert not [p for p in parent.iterdir() if p.name.startswith(".")], "no temporary folder is left"
    first = (train / "grow" / "grow_000.mp4").read_bytes()
    assert first != (val / "grow" / "grow_000.mp4").read_bytes()
    with pytest.raises(ValueError):
        synthetic.synthetic_actions("test")
    with pytest.raises(ValueError, match="unknown action"):
        synthetic.synthetic_actions("train", actions=("dance",))


def test_quick_mode_keeps_the_data_small(monkeypatch):
    monkeypatch.setenv("FTLAB_QUICK", "1")
    monkeypatch.setattr(synthetic, "write_action_dataset", lambda root, n, **kw: root)
    assert "-train-10-" in synthetic.synthetic_actions("train").name
    assert "-val-6-" in synthetic.synthetic_actions("val").name
