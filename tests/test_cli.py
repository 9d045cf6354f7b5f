"""The ftlab CLI end to end, in subprocesses, as a learner runs it."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, env=None):
    import os

    full_env = {**os.environ, "FTLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ftlab", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("predict", "finetune", "evaluate"):
        assert command in proc.stdout


def test_predict_cat_photo(tmp_path):
    from PIL import Image
    from skimage import data

    path = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 a JPEG header and nothing else")
    proc = run_cli("predict", broken, path, "--top", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    assert [item["image"] for item in result["predictions"]] == [str(path)]
    top = result["predictions"][0]["top"]
    assert len(top) == 3 and top[0]["index"] == 285 and "cat" in top[0]["name"].lower()
    assert [item["path"] for item in result["skipped_files"]] == [str(broken)]
    assert result["skipped_files"][0]["reason"]


def test_predict_with_no_readable_image_is_one_line(tmp_path):
    broken = tmp_path / "notes.png"
    broken.write_text("shopping list")
    proc = run_cli("predict", broken)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "notes.png" in proc.stderr and "could be read as an image" in proc.stderr


def test_finetune_then_evaluate_end_to_end(photo_folder, tmp_path):
    out = tmp_path / "model.keras"
    proc = run_cli(
        "finetune",
        "--data",
        photo_folder,
        "--size",
        "96",
        "--epochs",
        "1",
        "--head-epochs",
        "10",
        "--unfreeze",
        "1",
        "--batch-size",
        "8",
        "--out",
        out,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    for key in (
        "accuracy",
        "balanced_accuracy",
        "per_class_recall",
        "n_train",
        "n_val",
        "skipped_files",
        "seconds",
        "head_accuracy",
        "kept",
        "kept_reason",
        "selection",
    ):
        assert key in result
    assert result["n_train"] + result["n_val"] == 16 and result["n_val"] >= 2
    inner = result["selection"]
    assert inner["n_fit"] + inner["n_select"] == result["n_train"], "decisions on a split of the training data"
    assert {"head", "finetuned", "head_C"} <= set(inner) and "inner split" in result["kept_reason"]
    if result["kept"] == "head":
        assert result["accuracy"] == result["head_accuracy"]
    assert set(result["per_class_recall"]) == {"cat", "coffee"}
    assert out.is_file() and not out.with_suffix(".resume").exists()

    proc = run_cli("evaluate", "--model", out, "--data", photo_folder, "--json")
    assert proc.returncode == 0, proc.stderr
    evaluated = last_json(proc.stdout)
    assert evaluated["n_images"] == 16 and evaluated["accuracy"] >= 0.75

    import shutil

    only_cats = tmp_path / "only_cats"
    shutil.copytree(photo_folder / "cat", only_cats / "cat")
    proc = run_cli("evaluate", "--model", out, "--data", only_cats, "--json")
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["n_images"] == 8


def test_finetune_reports_skipped_files(photo_folder):
    (photo_folder / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    proc = run_cli(
        "finetune", "--data", photo_folder, "--size", "64", "--epochs", "0", "--head-epochs", "2", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    skipped = last_json(proc.stdout)["skipped_files"]
    assert [item["file"].endswith("broken.jpg") for item in skipped] == [True]


@pytest.mark.parametrize(
    "args, message",
    [
        (["finetune", "--data", "{tmp}/nowhere"], "nowhere"),
        (["finetune", "--data", "{tmp}/empty"], "empty"),
        (["finetune", "--data", "{photos}", "--backbone", "alexnet-9000"], "unknown backbone 'alexnet-9000'"),
        (["evaluate", "--model", "{tmp}/garbage.keras", "--data", "{photos}"], "garbage.keras"),
        (["predict", "{tmp}/missing.jpg"], "missing.jpg"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path, photo_folder, capsys):
    from ftlab.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.keras").write_text("not a model")
    code = main([a.format(tmp=tmp_path, photos=photo_folder) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert message in lines[0] and "error:" in lines[0]


def test_bad_input_exit_code_in_a_real_process(tmp_path):
    proc = run_cli("finetune", "--data", tmp_path / "nowhere")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("ftlab finetune: error:")
    assert "Traceback" not in proc.stderr


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "4"], "--size 4: must be at least 8"),
        (["--size", "0"], "--size 0: must be at least 8"),
        (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
        (["--batch-size", "-3"], "--batch-size -3: must be at least 1"),
        (["--epochs", "-1"], "--epochs -1: must be at least 0"),
        (["--head-epochs", "0"], "--head-epochs 0: must be at least 1"),
        (["--unfreeze", "-2"], "--unfreeze -2: must be at least 0"),
        (["--val-split", "1.5"], "--val-split must be between 0 and 1"),
        (["--out", "{tmp}/model.h5"], "must end in .keras, e.g. --out {tmp}/model.keras"),
        (["--out", "{tmp}/model"], "must end in .keras"),
        (["--out", "{tmp}/no/such/folder/model.keras"], "the folder {tmp}/no/such/folder does not exist"),
        (["--out", "{tmp}/notes.txt/model.keras"], "{tmp}/notes.txt is a file, not a folder"),
        (["--out", "{tmp}/saved.keras"], "is a folder: pass a file name in it"),
    ],
)
def test_bad_finetune_options_are_refused_before_training(
    extra, message, tmp_path, photo_folder, capsys, refused_before_work
):
    from ftlab.cli import main

    (tmp_path / "notes.txt").write_text("a file, not a folder")
    (tmp_path / "saved.keras").mkdir()
    args = ["finetune", "--data", str(photo_folder), *[a.format(tmp=tmp_path) for a in extra]]
    code = main(args)
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("ftlab finetune: error: ") and message.format(tmp=tmp_path) in line


def test_out_in_a_folder_that_is_not_writable_is_refused_before_training(
    tmp_path, photo_folder, capsys, monkeypatch, refused_before_work
):
    import os

    from ftlab.cli import main

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # Tests may run as root, for whom chmod does not lock a folder: deny access the way os.access would.
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if str(p) == str(locked) else real_access(p, mode, **kw)
    )
    code = main(["finetune", "--data", str(photo_folder), "--out", str(locked / "model.keras")])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and f"the folder {locked} is not writable" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["evaluate", "--model", "m.keras", "--data", "d", "--batch-size", "0"],
            "--batch-size 0: must be at least 1",
        ),
        (["predict", "x.jpg", "--top", "0"], "--top 0: must be at least 1"),
        (["finetune"], "the following arguments are required: --data; see `ftlab finetune --help`"),
        (["finetune", "--data", "d", "--size", "big"], "argument --size: invalid int value: 'big'"),
        (["finetune", "--data", "d", "--class-weight", "heavy"], "argument --class-weight: invalid choice"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
    ],
)
def test_bad_numbers_and_usage_errors_are_one_line(args, message, capsys):
    from ftlab.cli import main

    code = main(args)
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and message in line


def _unreadable(monkeypatch, folder):
    """Make listing ``folder`` raise PermissionError (chmod would not stop root, who may run the tests)."""
    from pathlib import Path

    real_iterdir = Path.iterdir

    def iterdir(self):
        if Path(self) == Path(folder):
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)


def test_unreadable_data_folder_is_a_data_error_naming_it(photo_folder, capsys, monkeypatch):
    from ftlab.cli import main

    _unreadable(monkeypatch, photo_folder)
    code = main(["finetune", "--data", str(photo_folder), "--size", "32"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert f"--data {photo_folder}: permission denied" in line and f"chmod -R u+rX {photo_folder}" in line


def _tiny_caffe_classifier(path, size=16):
    """A small classifier whose first layer is ftlab's CaffePreprocessing (ResNet-50's), saved by ftlab."""
    import keras

    from ftlab import train
    from ftlab.models import backbones

    inputs = keras.Input((size, size, 3))
    x = backbones._preprocessing_layers("caffe")[0](inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return train.save_model(
        keras.Model(inputs, outputs), path, {"class_names": ["cat", "coffee"], "image_size": size}
    )


def test_unreadable_evaluate_folder_is_a_data_error_naming_it(photo_folder, tmp_path, capsys, monkeypatch):
    from ftlab.cli import main

    model = _tiny_caffe_classifier(tmp_path / "tiny.keras")
    _unreadable(monkeypatch, photo_folder)
    code = main(["evaluate", "--model", str(model), "--data", str(photo_folder)])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and f"--data {photo_folder}: permission denied" in line


def test_zip_that_is_not_a_keras_model_is_a_model_error(photo_folder, tmp_path, capsys):
    from conftest import write_not_keras_models

    from ftlab.cli import main

    for path in write_not_keras_models(tmp_path):
        code = main(["evaluate", "--model", str(path), "--data", str(photo_folder)])
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2, path.name
        assert f"{path}: cannot read this model file" in line and "ftlab finetune --out" in line


def test_bad_size_in_a_real_process_is_one_line(photo_folder):
    proc = run_cli("finetune", "--data", photo_folder, "--size", "4")
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert line.startswith("ftlab finetune: error: --size 4: must be at least 8")


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from ftlab.cli import main\n"
        "codes = [main(['--help']), main(['finetune', '--help']), main(['evaluate', '--help'])]\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert codes == [0, 0, 0] and not heavy, (codes, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--batch-size" in proc.stdout


def test_evaluate_reloads_a_caffe_preprocessing_model_in_a_fresh_process(photo_folder, tmp_path):
    """ResNet-50 models carry ftlab's CaffePreprocessing layer; a new process must know the class."""
    model = _tiny_caffe_classifier(tmp_path / "resnet_like.keras")
    proc = run_cli("evaluate", "--model", model, "--data", photo_folder, "--json")
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["n_images"] == 16


def test_finetune_balanced_class_weight_on_an_imbalanced_folder(photo_folder, capsys):
    from ftlab.cli import main

    for path in sorted((photo_folder / "coffee").iterdir())[3:]:
        path.unlink()
    code = main(
        [
            "finetune",
            "--data",
            str(photo_folder),
            "--size",
            "32",
            "--epochs",
            "0",
            "--head-epochs",
            "3",
            "--class-weight",
            "balanced",
            "--val-split",
            "0.34",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = last_json(captured.out)
    assert result["n_train"] + result["n_val"] == 11
    assert set(result["per_class_recall"]) == {"cat", "coffee"}
    assert 0.0 <= result["balanced_accuracy"] <= 1.0 and result["kept"] == "head"
