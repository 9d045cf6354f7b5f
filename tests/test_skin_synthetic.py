"""ftlab.skin.synthetic and ftlab.skin.classes: imbalance, ABCD differences, splits, cache."""

import numpy as np
import pytest

from ftlab.skin import classes, synthetic


def test_class_table_matches_ham10000():
    assert classes.DX_CODES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert classes.HAM10000_TOTAL == 10015
    shares = classes.ham10000_proportions()
    assert shares["nv"] == pytest.approx(6705 / 10015)
    assert shares["df"] < 0.015 and shares["vasc"] < 0.015
    assert classes.label_of(" MEL ") == classes.MELANOMA == 4
    with pytest.raises(KeyError, match="known codes"):
        classes.label_of("melanoma")


def test_class_counts_follow_ham10000_proportions():
    counts = synthetic.class_counts(2000)
    assert sum(counts.values()) == 2000
    assert counts["nv"] == pytest.approx(2000 * 6705 / 10015, abs=1)
    assert counts["df"] == pytest.approx(2000 * 115 / 10015, abs=1)
    floor = synthetic.class_counts(200, min_per_class=5)
    assert sum(floor.values()) == 200 and min(floor.values()) >= 5


def test_generation_is_reproducible_and_labelled_synthetic():
    a = synthetic.make_synthetic_dermoscopy(40, image_size=48, seed=3)
    b = synthetic.make_synthetic_dermoscopy(40, image_size=48, seed=3)
    c = synthetic.make_synthetic_dermoscopy(40, image_size=48, seed=4)
    assert a.images.shape == (40, 48, 48, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert "SYNTHETIC" in a.source and "SYNTHETIC" in repr(a)
    assert set(a.attributes) >= {"asymmetry", "border", "n_colours", "diameter_mm", "skin_tone"}


def test_melanomas_follow_the_abcd_rule_more_than_nevi():
    data = synthetic.make_synthetic_dermoscopy(counts={"mel": 80, "nv": 80}, image_size=48, seed=0)
    mel, nv = data.labels == classes.MELANOMA, data.labels == classes.DX_CODES.index("nv")
    for key in ("asymmetry", "border", "n_colours", "diameter_mm"):
        assert data.attributes[key][mel].mean() > data.attributes[key][nv].mean() * 1.2, key
    # the look-alikes overlap: some melanomas are as small and round as a typical nevus
    assert (data.attributes["asymmetry"][mel] < np.median(data.attributes["asymmetry"][nv]) * 2).any()
    assert data.attributes["atypical"][mel].mean() > 0.2


def test_classes_differ_in_the_pixels():
    data = synthetic.make_synthetic_dermoscopy(counts={"vasc": 30, "nv": 30}, image_size=48, seed=1,
                                               skin_tone=0.1)
    centre = data.images[:, 18:30, 18:30].astype(float)
    redness = centre[..., 0] - centre[..., 1]
    vasc = data.labels == classes.DX_CODES.index("vasc")
    assert redness[vasc].mean() > redness[~vasc].mean() + 15
    assert np.allclose(data.attributes["skin_tone"], 0.1)


def test_unknown_code_is_rejected():
    with pytest.raises(KeyError, match="known codes"):
        synthetic.make_synthetic_dermoscopy(counts={"melanoma": 3})


def test_splits_are_stratified_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    splits = synthetic.load_synthetic_splits(300, image_size=32, seed=2)
    counts = splits.counts()
    for split in ("train", "val", "test"):
        assert all(counts[split][c] >= 1 for c in classes.DX_CODES), (split, counts[split])
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 300
    assert counts["train"]["nv"] > 5 * counts["train"]["mel"] / 2
    assert "SYNTHETIC" in repr(splits) and splits.class_names == list(classes.DX_CODES)
    cached = list((tmp_path / "skin").glob("synthetic-*.npz"))
    assert len(cached) == 1
    again = synthetic.load_synthetic_splits(300, image_size=32, seed=2)
    assert np.array_equal(again.x_test, splits.x_test)
    assert np.array_equal(again.attributes["test"]["skin_tone"], splits.attributes["test"]["skin_tone"])
    cached[0].write_bytes(b"not an npz")  # a damaged cache is rebuilt, not trusted
    rebuilt = synthetic.load_synthetic_splits(300, image_size=32, seed=2)
    assert np.array_equal(rebuilt.x_test, splits.x_test)


def test_write_ham_folder_round_trips_through_the_csv_loader(tmp_path):
    from ftlab.skin import ham10000

    data = synthetic.make_synthetic_dermoscopy(counts={"mel": 6, "nv": 6, "bkl": 4}, image_size=40, seed=0)
    csv_path = synthetic.write_ham_folder(data, tmp_path / "ham", image_format="png")
    text = csv_path.read_text()
    assert text.splitlines()[0] == "lesion_id,image_id,dx,dataset"
    assert "ftlab-synthetic" in text and "SYNTH_" in text
    loaded = ham10000.load_ham_folder(tmp_path / "ham" / "images", csv_path, image_size=40, val_split=0.3,
                                      verbose=False)
    assert loaded.n_train + loaded.n_val == 16 and loaded.report.skipped == 0
    assert loaded.class_names == ["bkl", "mel", "nv"]
    # PNG is lossless: the pixels come back exactly
    first = loaded.train_paths[0]
    index = int(first.stem.split("_")[1])
    assert np.array_equal(loaded.x_train[0], data.images[index])
