"""ftlab.video.train: on the offline clips both motion models clearly beat the single-frame baseline."""

from __future__ import annotations

import numpy as np
import pytest

from ftlab.errors import DataError
from ftlab.video import reader, synthetic, train


@pytest.fixture(scope="module")
def quick_features(tmp_path_factory):
    """The lesson's quick-mode data (10 train / 6 val clips per action) at 96 px, through Lite0."""
    import os

    old = {k: os.environ.get(k) for k in ("FTLAB_CACHE", "FTLAB_QUICK")}
    os.environ["FTLAB_CACHE"] = str(tmp_path_factory.mktemp("video-cache"))
    os.environ["FTLAB_QUICK"] = "1"
    try:
        size = 96
        tr = reader.load_video_folder(synthetic.synthetic_actions("train", size=size), size=size)
        va = reader.load_video_folder(synthetic.synthetic_actions("val", size=size), size=size)
        yield train.prepare_clip_features(tr, va)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_motion_models_beat_the_single_frame_baseline(quick_features, monkeypatch):
    monkeypatch.setenv("FTLAB_QUICK", "1")
    feats = quick_features
    assert feats.train_frames.shape == (60, 8, 4 * 1280) and feats.val_frames.shape == (36, 8, 4 * 1280)
    assert feats.train_maps.shape[1:] == (8, 3, 3, 192)
    results = train.compare_methods(feats, methods=("single_frame", "features", "inflated"), seed=0,
                                    verbose=False)
    single = results["single_frame"].accuracy
    assert single < 0.4, f"one frame should carry (almost) no information, got {single:.2f}"
    for method in ("features", "inflated"):
        assert results[method].accuracy >= single + 0.2, (method, results[method].accuracy, single)
    inflated = results["inflated"]
    assert inflated.trainable_params > results["features"].trainable_params > results["single_frame"].trainable_params
    assert set(inflated.per_class_recall) == set(synthetic.ACTIONS)
    assert inflated.peak_rss_mb > 0 and inflated.seconds > 0 and inflated.probabilities.shape == (36, 6)
    table = train.results_table(results)
    assert table.count("\n") == 4 and "| inflated |" in table


def test_prepare_refuses_mismatched_sets():
    clips = np.zeros((2, 4, 32, 32, 3), np.uint8)
    a = reader.VideoClips(clips, np.array([0, 1]), ["jump", "wave"], ["a", "b"])
    b = reader.VideoClips(clips, np.array([0, 1]), ["jump", "run"], ["c", "d"])
    with pytest.raises(DataError, match="differ"):
        train.prepare_clip_features(a, b, backbone=object())
    c = reader.VideoClips(np.zeros((2, 6, 32, 32, 3), np.uint8), np.array([0, 1]), ["jump", "wave"], ["e", "f"])
    with pytest.raises(DataError, match="--frames"):
        train.prepare_clip_features(a, c, backbone=object())


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 8 + [1] * 4 + [2] * 2)
    tr, va = train.stratified_split(labels, 0.25, seed=1)
    assert sorted(np.r_[tr, va].tolist()) == list(range(14))
    assert np.bincount(labels[va]).tolist() == [2, 1, 1] and set(labels[tr]) == {0, 1, 2}
    with pytest.raises(DataError, match="between 0 and 1"):
        train.stratified_split(labels, 1.5)
    with pytest.raises(DataError, match="at least 2"):
        train.stratified_split(np.array([0, 0, 1]), 0.5)


def test_peak_rss_sees_an_allocation():
    with train.PeakRSS(interval=0.005) as memory:
        block = np.ones(60_000_000 // 8)
        block += 1
        import time

        time.sleep(0.05)
    assert memory.peak_mb - memory.start_mb > 30 and memory.seconds > 0.04


def test_plot_results_has_three_panels_and_a_chance_line():
    import matplotlib

    matplotlib.use("Agg")
    fake = {name: train.VideoResult(name, acc, acc, {}, [], 2.0, 900.0, 10.0, 100, 3, {}, np.full((4, 6), 1 / 6))
            for name, acc in [("single_frame", 0.2), ("features", 0.7)]}
    fig = train.plot_results(fake, title="test")
    assert len(fig.axes) == 3
    assert any(abs(line.get_xdata()[0] - 1 / 6) < 1e-9 for line in fig.axes[0].lines)
