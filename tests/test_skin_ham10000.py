"""ftlab.skin.ham10000: a messy HAM10000-style CSV + folder is loaded, and every problem reported."""

import numpy as np
import pytest
from PIL import Image

from ftlab.errors import DataError
from ftlab.skin import ham10000
from ftlab.skin.classes import DX_CODES


def _image(path, colour, size=(60, 45)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def messy(tmp_path):
    """Two image sub-folders like HAM10000's part_1/part_2, and a CSV with every kind of problem."""
    images = tmp_path / "images"
    rows = ["lesion_id,image_id,dx,dx_type,age"]
    n = 0
    for dx, colour, lesions in (("nv", (150, 100, 70), 6), ("mel", (60, 40, 30), 4), ("bkl", (190, 150, 110), 3)):
        for lesion in range(lesions):
            for _shot in range(2):  # two images of each lesion
                n += 1
                image_id = f"ISIC_{n:07d}"
                part = "part_1" if n % 2 else "part_2"
                _image(images / part / f"{image_id}.jpg", colour)
                rows.append(f"HAM_{dx}{lesion},{image_id},{dx},histo,50")
    rows.append("HAM_x1,ISIC_9000001,nv,histo,40")  # missing image file
    rows.append("HAM_x2,ISIC_0000001,mel,histo,40")  # duplicate id with a conflicting dx
    rows.append("HAM_x3,ISIC_0000002,nv,histo,40")  # duplicate id
    rows.append("HAM_x4,ISIC_9000002,melanoma,histo,40")  # unknown dx code
    rows.append("HAM_x5,,nv,histo,40")  # no image id
    (images / "part_1" / "ISIC_9000003.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    rows.append("HAM_x6,ISIC_9000003,nv,histo,40")  # fails to decode
    good = images / "part_2" / "ISIC_9000004.png"
    _image(good, (10, 200, 10))
    good.write_bytes(good.read_bytes()[:40])  # truncated PNG
    rows.append("HAM_x7,ISIC_9000004,bkl,histo,40")
    csv_path = tmp_path / "HAM10000_metadata.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return images, csv_path


def test_messy_folder_loads_and_reports_each_problem(messy, capsys):
    images, csv_path = messy
    data = ham10000.load_ham_folder(images, csv_path, image_size=32, val_split=0.25, seed=0)
    report = data.report
    assert report.rows == 33 and report.used == 26
    assert [w for w, _ in report.missing_images] == ["HAM10000_metadata.csv:28"]
    assert "ISIC_9000001" in report.missing_images[0][1]
    assert len(report.duplicate_ids) == 2
    assert "conflicts with 'nv'" in report.duplicate_ids[0][1]
    assert report.unknown_dx == [("HAM10000_metadata.csv:31", "ISIC_9000002: dx 'melanoma'")]
    assert report.bad_rows == [("HAM10000_metadata.csv:32", "empty image_id")]
    assert sorted(p.split("/")[-1] for p, _ in report.undecodable) == ["ISIC_9000003.jpg", "ISIC_9000004.png"]
    assert report.skipped == 7 and len(data.skipped) == 7
    printed = capsys.readouterr().out
    for phrase in ("33 rows, 26 images used, 7 left out", "no image file found", "unknown dx code",
                   "duplicate image_id", "cannot be decoded", "without an image_id", "split by lesion_id"):
        assert phrase in printed, phrase
    summary = report.as_dict()
    assert summary["undecodable"]["count"] == 2 and summary["unknown_dx"]["examples"][0]["detail"].endswith("'melanoma'")


def test_images_are_resized_and_labelled_in_canonical_order(messy):
    images, csv_path = messy
    data = ham10000.load_ham_folder(images, csv_path, image_size=32, verbose=False)
    assert data.x_train.shape[1:] == (32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.class_names == ["bkl", "mel", "nv"]
    mel = data.class_names.index("mel")
    assert data.x_train[data.y_train == mel].mean() < data.x_train[data.y_train != mel].mean()
    fixed = ham10000.load_ham_folder(images, csv_path, image_size=32, class_names=DX_CODES, verbose=False)
    assert fixed.class_names == list(DX_CODES)
    assert set(np.unique(fixed.y_train)) == {DX_CODES.index(c) for c in ("bkl", "mel", "nv")}


def test_no_lesion_sits_in_both_train_and_validation(messy):
    images, csv_path = messy
    for seed in range(5):
        data = ham10000.load_ham_folder(images, csv_path, image_size=16, val_split=0.3, seed=seed, verbose=False)
        assert not set(data.train_lesions) & set(data.val_lesions)
        assert data.n_val > 0 and set(np.unique(data.y_val)) == {0, 1, 2}
        assert set(np.unique(data.y_train)) == {0, 1, 2}


def test_lesion_split_keeps_groups_whole():
    labels = np.array([0] * 10 + [1] * 6)
    groups = np.array(["a", "a", "a", "b", "b", "c", "d", "e", "f", "g", "h", "h", "i", "j", "k", "l"])
    train, val = ham10000.lesion_split(labels, groups, 0.3, seed=1)
    assert sorted(np.r_[train, val].tolist()) == list(range(16))
    assert not set(groups[train]) & set(groups[val])
    assert {0, 1} <= set(labels[val]) and {0, 1} <= set(labels[train])


def test_without_lesion_id_it_splits_by_image_and_says_so(tmp_path):
    images = tmp_path / "img"
    lines = ["image_id;dx"]  # semicolons, as some spreadsheets write
    for i in range(8):
        _image(images / f"a{i}.png", (100, 50, 50))
        lines.append(f"a{i};{'mel' if i < 4 else 'nv'}")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\ufeff" + "\n".join(lines))  # with a byte-order mark
    data = ham10000.load_ham_folder(images, csv_path, image_size=16, val_split=0.25, verbose=False)
    assert not data.report.lesion_split
    assert "no lesion_id column" in str(data.report)
    assert data.n_train + data.n_val == 8


@pytest.mark.parametrize(
    ("header", "message"),
    [("image,diagnosis", r"missing column\(s\) \['image_id', 'dx'\]"), ("lesion_id,image_id", r"\['dx'\]")],
)
def test_csv_without_required_columns_is_a_clear_error(tmp_path, header, message):
    (tmp_path / "img").mkdir()
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(header + "\nx,y\n")
    with pytest.raises(DataError, match=message):
        ham10000.load_ham_folder(tmp_path / "img", csv_path, verbose=False)


def test_missing_paths_and_unusable_data_are_clear_errors(tmp_path):
    (tmp_path / "img").mkdir()
    with pytest.raises(DataError, match="no such metadata file"):
        ham10000.load_ham_folder(tmp_path / "img", tmp_path / "nope.csv", verbose=False)
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("image_id,dx\nA,nv\nB,mel\n")
    with pytest.raises(DataError, match="no such image folder"):
        ham10000.load_ham_folder(tmp_path / "missing", csv_path, verbose=False)
    with pytest.raises(DataError, match="none of its 2 rows gave a usable image"):
        ham10000.load_ham_folder(tmp_path / "img", csv_path, verbose=False)
    _image(tmp_path / "img" / "A.jpg", (1, 2, 3))
    with pytest.raises(DataError, match="at least two dx codes"):
        ham10000.load_ham_folder(tmp_path / "img", csv_path, verbose=False)
    with pytest.raises(DataError, match="between 0 and 1"):
        ham10000.load_ham_folder(tmp_path / "img", csv_path, val_split=1.5, verbose=False)


def test_binary_csv_is_a_clear_error(tmp_path):
    (tmp_path / "img").mkdir()
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes(b"image_id,dx\n\xff\xfe\xfa,nv\n")
    with pytest.raises(DataError, match="UTF-8"):
        ham10000.load_ham_folder(tmp_path / "img", csv_path, verbose=False)
