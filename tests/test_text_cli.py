"""`ftlab finetune-text` and `ftlab generate` end to end, in subprocesses, as a learner runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run_cli(*args):
    env = {**os.environ, "FTLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "ftlab", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture
def contracts(tmp_path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    clauses = ["The Licensee shall pay all fees within thirty days of the invoice date.",
               "This Agreement is governed by the laws of the State of New York.",
               "Neither party may assign this Agreement without prior written consent.",
               "The Software is provided as is, without warranty of any kind."]
    for i, clause in enumerate(clauses):
        (folder / f"contract_{i}.txt").write_text(f"AGREEMENT {i}\n\n" + (clause + "\n") * 6, encoding="utf-8")
    (folder / "scanned.txt").write_bytes("Clause 5. Le preneur s'engage à payer.".encode("latin-1"))
    return folder


def test_finetune_text_then_generate(contracts, tmp_path):
    out = tmp_path / "legal.keras"
    proc = run_cli("finetune-text", "--model", "tiny", "--corpus", contracts, "--lora", "2", "--steps", "2",
                   "--batch-size", "4",
                   "--max-eval-windows", "8", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    for key in ("perplexity_before", "perplexity_after", "general_perplexity_before", "general_perplexity_after",
                "bits_per_byte_before", "bits_per_byte_after", "trainable_params", "seconds"):
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    assert result["trainable_params"] < result["total_params"] / 10
    assert result["train_documents"] + result["val_documents"] == 5 and result["replaced_files"] == 1
    assert "scanned.txt" in proc.stderr and "UTF-8" in proc.stderr, "the non-UTF-8 file is reported"
    assert out.is_file()

    proc = run_cli("generate", "--model", out, "--prompt", "The Licensee", "--max-length", "48",
                   "--temperature", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, "loading a saved model is quiet"
    generated = last_json(proc.stdout)
    assert generated["text"].startswith("The Licensee") and len(generated["text"].encode()) <= 47


def test_generate_plain_output_with_the_bundled_model():
    proc = run_cli("generate", "--model", "tiny", "--prompt", "Permission is", "--max-length", "40", "--top-k", "5",
                   "--top-p", "0.9")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Permission is")


@pytest.mark.parametrize("make_args, fragment", [
    (lambda d: ["finetune-text", "--corpus", d / "empty"], "empty"),
    (lambda d: ["finetune-text", "--corpus", d / "missing"], "does not exist"),
    (lambda d: ["finetune-text", "--corpus", d / "one.txt"], "--val"),
    (lambda d: ["generate", "--prompt", "  "], "prompt is empty"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make_args, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.txt").write_text("\n")
    (tmp_path / "one.txt").write_text("Only one document.")
    proc = run_cli(*make_args(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr


def test_corpus_smaller_than_one_window_warns(tmp_path):
    (tmp_path / "train.txt").write_text("Short clause.")
    (tmp_path / "val.txt").write_text("Another short clause.")
    proc = run_cli("finetune-text", "--model", "tiny", "--corpus", tmp_path / "train.txt", "--val", tmp_path / "val.txt",
                   "--steps", "1", "--batch-size", "2", "--max-eval-windows", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "less than one training window" in proc.stderr
    assert last_json(proc.stdout)["warnings"]


@pytest.mark.parametrize("extra, fragment", [
    (["--sequence-length", "0"], "--sequence-length must be between 2 and 4,096 (got 0)"),
    (["--sequence-length", "-4"], "--sequence-length must be between 2"),
    (["--sequence-length", "100000"], "between 2 and 4,096 (got 100000)"),
    (["--max-eval-windows", "0"], "--max-eval-windows must be between 1"),
    (["--batch-size", "0"], "--batch-size must be between 1 and 1,024 (got 0)"),
    (["--learning-rate", "nan"], "--learning-rate must be a number above 0"),
    (["--learning-rate=-1e-3"], "--learning-rate must be a number above 0"),
    (["--learning-rate", "inf"], "--learning-rate must be a number above 0"),
    (["--out", "{tmp}"], "is a folder"),
    (["--out", "{tmp}/contracts/contract_0.txt/model.keras"], "is a file, not a folder"),
])
def test_numbers_and_out_are_checked_before_any_work(contracts, tmp_path, capsys, refused_before_work, extra,
                                                     fragment):
    """Each bad value is one line and exit 2 at once: nothing is loaded, trained or lost."""
    from ftlab import cli

    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code = cli.main(["finetune-text", "--corpus", str(contracts), *args])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_text_files_with_a_byte_order_mark_are_decoded(tmp_path, encoding):
    from ftlab.text import corpora

    text = "Licence: the Software is provided “as is”, without warranty.\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python writes no BOM for the explicit-endian codec
    (tmp_path / "licence.txt").write_bytes(data)
    corpus = corpora.load_text_corpus(tmp_path)
    assert corpus.texts == [text] and not corpus.replaced and not corpus.not_text


def test_text_that_is_not_text_is_flagged(tmp_path, capsys):
    from ftlab.cli import text as text_cli

    (tmp_path / "notes.txt").write_text("Plain English notes about the contract.\n" * 4)
    # UTF-16 without a byte-order mark: read as UTF-8 it is letters with NULs between them
    (tmp_path / "export.txt").write_bytes("The Licensee shall pay.".encode("utf-16-le"))
    (tmp_path / "image.txt").write_bytes(bytes(range(256)) * 4)
    corpus = text_cli._load_corpus(str(tmp_path), "--corpus")
    assert sorted(corpus.not_text) == ["export.txt", "image.txt"]
    err = capsys.readouterr().err
    assert "2 file(s) do not look like text" in err and "export.txt" in err and "UTF-8" in err
