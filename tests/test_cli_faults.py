"""Bad numbers for finetune / finetune-video (issue 12, items 5 and 7): refused before any data is read."""

from __future__ import annotations

import pytest

from ftlab.cli import common as cli_common
from ftlab.cli import image as cli_image


def _refused(capsys, argv):
    from ftlab.cli import main

    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("size", ["3000", "100000"])
def test_size_beyond_the_backbone_is_refused_with_the_limit(size, tmp_path, capsys, refused_before_work):
    line = _refused(capsys, ["finetune", "--data", str(tmp_path), "--size", size])
    assert f"--size {size} is too large" in line and f"at most {cli_image.MAX_SIDE} px" in line


def test_size_whose_batch_cannot_fit_in_memory_names_a_batch_that_does(tmp_path, capsys, refused_before_work, monkeypatch):
    monkeypatch.setattr(cli_image, "_physical_memory", lambda: 2 << 30)  # a 2 GB machine (Binder)
    line = _refused(capsys, ["finetune", "--data", str(tmp_path), "--size", "512", "--batch-size", "32"])
    need = cli_image.TRAIN_BYTES_PER_PIXEL * 32 * 512 * 512 / 1e9
    assert f"needs about {need:.1f} GB" in line and "2.1 GB" in line
    fit = (2 << 30) // (cli_image.TRAIN_BYTES_PER_PIXEL * 512 * 512)
    assert f"--batch-size {fit} " in line and fit * cli_image.TRAIN_BYTES_PER_PIXEL * 512 * 512 <= 2 << 30


def test_default_size_and_batch_fit_a_16_gb_machine(monkeypatch):
    monkeypatch.setattr(cli_image, "_physical_memory", lambda: 16 << 30)
    cli_image._check_size_fits(224, 32)


@pytest.mark.parametrize("epochs", ["-1", "0"])
def test_finetune_video_refuses_epochs_below_one(epochs, tmp_path, capsys, refused_before_work):
    line = _refused(capsys, ["finetune-video", "--data", str(tmp_path), "--epochs", epochs])
    assert f"--epochs {epochs}: must be at least 1" in line


def test_predict_expands_folders_and_skips_what_it_cannot_read(tmp_path, capsys, monkeypatch):
    import json

    import numpy as np
    from PIL import Image

    from ftlab.cli import main
    from ftlab.models import imagenet

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(photos / name)
    (photos / "notes.txt").write_text("not an image")
    (photos / "loop").symlink_to("loop")  # a link to itself
    classified = []

    def fake_predict(images, top):
        classified.extend(images)
        return [[{"name": "x", "probability": 1.0, "index": 0}] for _ in images]

    monkeypatch.setattr(imagenet, "predict_imagenet", fake_predict)
    argv = ["predict", str(photos), str(photos / "a.png"), str(photos / "loop"), str(photos / "sub"),
            str(tmp_path / "missing.jpg"), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [p["image"] for p in result["predictions"]] == [str(photos / "a.png"), str(photos / "b.jpg")]
    reasons = {item["path"]: item["reason"] for item in result["skipped_files"]}
    assert "symlink loop" in reasons[str(photos / "loop")]
    assert "not an image" in reasons[str(photos / "notes.txt")]
    assert "sub-folder" in reasons[str(photos / "sub")]
    assert "already classified" in reasons[str(photos / "a.png")]
    assert "no such file" in reasons[str(tmp_path / "missing.jpg")]
    assert len(classified) == 2


def test_evaluate_model_folder_hint_names_a_keras_file(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    line = _refused(capsys, ["evaluate", "--model", str(tmp_path / "run"), "--data", str(tmp_path)])
    assert "is a folder, not a model file" in line and f"{tmp_path / 'run' / 'model.keras'}" in line
    assert "--out" not in line


def test_read_only_cache_is_named_as_ftlab_cache_not_as_unreadable_data(tmp_path, monkeypatch):
    from pathlib import Path

    from ftlab import settings
    from ftlab.errors import DataError

    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))
    entry = settings.cache_dir("images") / ".tmp-x.npz"
    with pytest.raises(DataError) as info, cli_common.readable(data=str(tmp_path / "photos")):
        raise PermissionError(13, "Permission denied", str(entry))  # what mkstemp raises in a read-only cache
    message = str(info.value)
    assert message.startswith(f"FTLAB_CACHE {(tmp_path / 'cache').resolve()} is not writable")
    assert "cannot read" not in message and "--data" not in message

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(DataError, match=r"FTLAB_CACHE .* is not writable \(cannot create .*features"):
        settings.cache_dir("features")
