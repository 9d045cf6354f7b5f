"""The ftlab CLI end to end, in subprocesses, as a learner runs it."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, env=None):
    import os

    full_env = {**os.environ, "FTLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "ftlab", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=600)


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
    proc = run_cli("predict", path, "--top", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    top = last_json(proc.stdout)["predictions"][0]["top"]
    assert len(top) == 3 and top[0]["index"] == 285 and "cat" in top[0]["name"].lower()


def test_finetune_then_evaluate_end_to_end(photo_folder, tmp_path):
    out = tmp_path / "model.keras"
    proc = run_cli("finetune", "--data", photo_folder, "--size", "96", "--epochs", "1", "--head-epochs", "10",
                   "--unfreeze", "1", "--batch-size", "8", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    for key in ("accuracy", "balanced_accuracy", "per_class_recall", "n_train", "n_val", "skipped_files",
                "seconds", "head_accuracy"):
        assert key in result
    assert result["n_train"] + result["n_val"] == 16 and result["n_val"] >= 2
    assert result["accuracy"] >= result["head_accuracy"]
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
    proc = run_cli("finetune", "--data", photo_folder, "--size", "64", "--epochs", "0", "--head-epochs", "2", "--json")
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
