"""The real offline data that ships with ftlab: intact, credited, and loaded by the lessons' loaders."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ftlab.data import catsdogs
from ftlab.errors import DataError
from ftlab.skin import DX_CODES, ham10000

ASSETS = Path(catsdogs.__file__).resolve().parents[1] / "assets"
FLOWER_CLASSES = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]


@pytest.mark.parametrize("name", ["flowers", "ham10000"])
def test_bundled_files_match_their_checksums(name):
    folder = ASSETS / name
    listed = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, relative = line.split("  ", 1)
        listed[relative] = digest
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert on_disk == set(listed), "files added or missing: run tools/vendor_data.py again"
    bad = [rel for rel, digest in listed.items() if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest]
    assert not bad


def test_every_flower_photo_is_credited_and_the_licence_is_stated():
    folder = ASSETS / "flowers"
    photos = sorted(p.relative_to(folder / "photos").as_posix() for p in folder.glob("photos/*/*.jpg"))
    credits = (folder / "ATTRIBUTION.txt").read_text().splitlines()
    assert len(photos) == 600 and Counter(p.split("/")[0] for p in photos) == dict.fromkeys(FLOWER_CLASSES, 120)
    credited = {line.split(" ", 1)[0] for line in credits}
    assert credited == set(photos)
    assert all(" CC-BY " in line and " by " in line for line in credits)
    assert "creativecommons.org/licenses/by/2.0" in (folder / "README.md").read_text()
    notice = (ASSETS.parents[1] / "NOTICE").read_text()
    assert "ftlab/assets/flowers/ATTRIBUTION.txt" in notice and "ftlab/assets/ham10000" in notice


def test_ham_subset_keeps_ham10000s_class_mix_and_its_licence():
    with open(ASSETS / "ham10000" / "HAM10000_subset_metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert Counter(r["dx"] for r in rows) == {"nv": 1574, "mel": 261, "bkl": 258, "bcc": 121, "akiec": 77,
                                              "vasc": 33, "df": 27}
    assert len({r["lesion_id"] for r in rows}) == len(rows)  # one image per lesion
    images = {p.stem for p in (ASSETS / "ham10000" / "images").glob("*.jpg")}
    assert images == {r["image_id"] for r in rows}
    assert "CC BY-NC 4.0" in (ASSETS / "ham10000" / "README.md").read_text()


def test_flowers_offline_uses_the_bundled_photos(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    data = catsdogs.flowers(train_per_class=2, val_per_class=3, image_size=32, verbose=False)
    assert data.class_names == FLOWER_CLASSES
    assert np.bincount(data.y_train).tolist() == [2] * 5 and np.bincount(data.y_val).tolist() == [3] * 5
    assert data.source.startswith("offline: the 600 flower photos bundled with ftlab")
    with pytest.raises(DataError, match="120 photos per class"):
        catsdogs.bundled_flowers(train_per_class=100, val_per_class=30)


def test_flowers_falls_back_to_the_bundled_photos_when_the_download_fails(monkeypatch, tmp_path, capsys):
    from dataclasses import replace

    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    monkeypatch.setattr("ftlab.settings.is_offline", lambda: False)
    # a local port nothing listens on: the download fails at once, as a moved link would
    monkeypatch.setattr(catsdogs, "FLOWERS", replace(catsdogs.FLOWERS, url="http://127.0.0.1:9/flower_photos.tgz",
                                                     mirrors=()))
    data = catsdogs.flowers(train_per_class=1, val_per_class=1, image_size=32, verbose=False)
    assert "using the bundled flower photos" in capsys.readouterr().out
    assert data.source.startswith("offline:") and data.num_classes == 5
    with pytest.raises(Exception, match="by hand"):
        catsdogs.flowers(train_per_class=1, val_per_class=1, image_size=32, verbose=False, fallback=False)


def test_bundled_ham_splits_by_lesion_into_three_stratified_parts():
    data = ham10000.load_bundled(image_size=32, val_split=0.15, test_split=0.2, seed=0)
    lesions = [set(data.attributes[f"{split}_lesions"]) for split in ("train", "val", "test")]
    assert not (lesions[0] & lesions[1] or lesions[0] & lesions[2] or lesions[1] & lesions[2])
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 2351
    assert data.x_test.shape[1:] == (32, 32, 3) and data.class_names == list(DX_CODES)
    counts = data.counts()
    for split in ("val", "test"):  # every diagnosis, even the 27 dermatofibromas, is in every split
        assert min(counts[split].values()) >= 1
    assert 0.18 < len(data.y_test) / 2351 < 0.22 and 0.13 < len(data.y_val) / 2351 < 0.17
    assert "HAM10000" in data.source and "CC BY-NC 4.0" in data.source


def test_finetune_cli_runs_on_the_bundled_ham_folder(tmp_path):
    import json
    import os
    import subprocess
    import sys

    folder = ASSETS / "ham10000"
    env = {**os.environ, "FTLAB_OFFLINE": "1", "FTLAB_CACHE": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "ftlab", "finetune", "--data", str(folder / "images"),
                           "--metadata", str(folder / "HAM10000_subset_metadata.csv"), "--size", "32",
                           "--epochs", "0", "--head-epochs", "2", "--class-weight", "balanced", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["class_names"] == list(DX_CODES)
    assert result["metadata_report"]["used"] == 2351 and not result["skipped_files"]
    assert result["balanced_accuracy"] > 1 / 7  # better than chance on real lesions, even at 32 px
