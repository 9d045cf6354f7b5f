"""`ftlab finetune-video` end to end, in subprocesses, as a learner runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ftlab.video import synthetic


def run_cli(*args, cache):
    env = {**os.environ, "FTLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "FTLAB_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "ftlab", "finetune-video", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


def test_finetune_video_reports_accuracy_and_skipped_files(tmp_path):
    root = synthetic.write_action_dataset(tmp_path / "clips", clips_per_class=4, size=64, frame_range=(8, 9),
                                          actions=("grow", "shrink"))
    (root / "grow" / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "shrink" / "empty.avi").write_bytes(b"")
    proc = run_cli("--data", root, "--val-split", "0.5", "--frames", "4", "--size", "64", "--epochs", "2",
                   "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 <= result["accuracy"] <= 1 and set(result["per_class_recall"]) == {"grow", "shrink"}
    assert result["n_train"] == 4 and result["n_val"] == 4 and result["method"] == "features"
    assert sorted(os.path.basename(f["path"]) for f in result["skipped_files"]) == ["broken.mp4", "empty.avi"]
    assert result["seconds"] > 0 and "broken.mp4" in proc.stderr, "skipped files are also listed on stderr"


def test_finetune_video_bad_folder_is_one_line_and_exit_2(tmp_path):
    proc = run_cli("--data", tmp_path / "nowhere", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere: no such folder" in lines[0] and "Traceback" not in proc.stderr


def test_finetune_video_val_folder_with_unknown_class(tmp_path):
    train_dir = synthetic.write_action_dataset(tmp_path / "train", 1, size=32, frame_range=(8, 8),
                                               actions=("grow",))
    val_dir = synthetic.write_action_dataset(tmp_path / "val", 1, size=32, frame_range=(8, 8), actions=("shrink",))
    proc = run_cli("--data", train_dir, "--val", val_dir, "--size", "32", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "shrink" in proc.stderr and "not among the expected classes" in proc.stderr


def test_finetune_video_inflated_with_a_val_folder(tmp_path):
    actions = ("grow", "shrink")
    train_dir = synthetic.write_action_dataset(tmp_path / "train", 3, size=64, frame_range=(8, 9), actions=actions)
    val_dir = synthetic.write_action_dataset(tmp_path / "val", 2, size=64, frame_range=(8, 9), actions=actions,
                                             seed=1)
    proc = run_cli("--data", train_dir, "--val", val_dir, "--method", "inflated", "--frames", "4", "--size", "64",
                   "--epochs", "1", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["method"] == "inflated"
    assert result["n_train"] == 6 and result["n_val"] == 4, "--val is used as it is, not split off --data"
    assert 0 <= result["accuracy"] <= 1 and set(result["per_class_recall"]) == set(actions)
    assert result["skipped_files"] == [] and result["seconds"] > 0
