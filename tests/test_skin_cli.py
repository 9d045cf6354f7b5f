"""`ftlab finetune --metadata CSV` on a HAM10000-style folder (synthetic images), end to end."""

import json
import os
import subprocess
import sys

import pytest

from ftlab.skin import synthetic


def run_cli(*args):
    env = {**os.environ, "FTLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "ftlab", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture
def ham_folder(tmp_path):
    data = synthetic.make_synthetic_dermoscopy(counts={"mel": 10, "nv": 14, "bkl": 8}, image_size=64, seed=5)
    csv_path = synthetic.write_ham_folder(data, tmp_path / "ham")
    (tmp_path / "ham" / "images" / "SYNTH_0000003.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    with open(csv_path, "a") as handle:
        handle.write("L_X,SYNTH_0000099,nv,ftlab-synthetic\n")  # no such image
        handle.write("L_Y,SYNTH_0000004,scc,ftlab-synthetic\n")  # unknown dx code
    return tmp_path / "ham" / "images", csv_path


def test_finetune_with_metadata_reports_auc_ece_confusion_and_skips(ham_folder):
    images, csv_path = ham_folder
    proc = run_cli("finetune", "--data", images, "--metadata", csv_path, "--size", "64", "--epochs", "0",
                   "--head-epochs", "3", "--class-weight", "balanced", "--val-split", "0.3", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["class_names"] == ["bkl", "mel", "nv"]
    assert 0.0 <= result["roc_auc_ovr"] <= 1.0 and 0.0 <= result["ece"] <= 1.0
    matrix = result["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert sum(map(sum, matrix)) == result["n_val"]
    assert result["n_train"] + result["n_val"] == 31  # 32 images, one undecodable
    report = result["metadata_report"]
    assert report["rows"] == 34 and report["used"] == 31 and report["lesion_split"] is True
    assert report["undecodable"]["count"] == 1 and report["missing_images"]["count"] == 1
    assert report["unknown_dx"]["examples"][0]["detail"].endswith("'scc'")
    assert len(result["skipped_files"]) == 3
    assert result["selection"]["split"] == "by group (lesion)" and result["selection"]["score"] == "balanced_accuracy"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metadata", "{tmp}/none.csv"], "no such metadata file"),
        (["--metadata", "{csv}", "--val", "{tmp}"], "--val cannot be combined with --metadata"),
    ],
)
def test_metadata_errors_are_one_clear_line(ham_folder, tmp_path, capsys, extra, message):
    from ftlab.cli import main

    images, csv_path = ham_folder
    code = main(["finetune", "--data", str(images), *[a.format(tmp=tmp_path, csv=csv_path) for a in extra]])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message in err and "Traceback" not in err
