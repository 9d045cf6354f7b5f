"""ftlab.text.model: byte tokenizer, bundled tiny LM (weights, checksum), LoRA, save/load."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from ftlab import download, freeze
from ftlab.errors import ModelError, OfflineError
from ftlab.text import corpora, model, train


@pytest.fixture(scope="module")
def tiny_lm():
    return model.load_tiny_lm()


def test_tokenizer_round_trip_keeps_case_and_unicode():
    tok = model.ByteLevelTokenizer()
    text = "The Licensor — © 2024 — grants: naïve ÜBER 許可\n\ttabs"
    ids = tok.tokenize(text)
    assert list(np.asarray(ids)) == list(text.encode("utf-8"))
    assert tok.detokenize(ids) == text


def test_special_ids_are_distinct_and_never_in_utf8_text():
    tok = model.ByteLevelTokenizer()
    assert len({tok.start_token_id, tok.end_token_id, tok.pad_token_id}) == 3
    assert tok.pad_token_id != tok.end_token_id, "pad == end makes generate() stop at once"
    every_char = "".join(chr(c) for c in range(1, 0x3000) if not 0xD800 <= c < 0xE000)
    data = set(every_char.encode("utf-8"))
    assert not data & {tok.start_token_id, tok.end_token_id}
    assert sorted(tok.special_token_ids) == [0x00, 0xFE, 0xFF]


def test_bundled_tiny_lm_is_small_checksummed_and_documented():
    folder = model.ASSET_DIR
    weights = folder / model.WEIGHTS_NAME
    assert weights.stat().st_size < 10 * 2**20
    config = model.read_tiny_lm_config()
    assert config["backbone"] == model.TINY_CONFIG
    for key in ("steps", "seconds", "final_train_loss_nats_per_byte", "general_val_perplexity_128", "command"):
        assert key in config
    assert (folder / model.SHA256_NAME).read_text().split()[0] == download.sha256_file(weights)


def test_pretrained_model_knows_general_english_a_random_one_does_not(tiny_lm):
    _, general_val = corpora.general_split()
    pretrained = train.perplexity(tiny_lm, general_val, max_windows=48)
    untrained = model.untrained_copy(tiny_lm)
    assert untrained.backbone.get_config() == tiny_lm.backbone.get_config()
    random = train.perplexity(untrained, general_val, max_windows=48)
    assert random > 150, "an untrained byte model is about as unsure as 256 equal choices"
    assert pretrained < 12 and pretrained < random / 15


def test_corrupt_weights_are_refused(tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(model.ASSET_DIR, folder)
    weights = folder / model.WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        model.load_tiny_lm(folder)
    (folder / model.SHA256_NAME).unlink()
    with pytest.raises(ModelError, match="missing"):
        model.load_tiny_lm(folder)


def test_lora_trains_a_small_fraction_of_the_parameters(tiny_lm):
    full_trainable, full_frozen = freeze.count_params(tiny_lm)
    assert full_frozen == 0 and full_trainable == tiny_lm.count_params() > 500_000
    lm = model.load_tiny_lm()
    model.enable_lora(lm, rank=4)
    lora_trainable, _ = freeze.count_params(lm)
    assert lora_trainable < 0.05 * full_trainable
    adapters = lm.count_params() - tiny_lm.count_params()
    assert 0 < adapters <= lora_trainable, "new adapter weights (plus the query/value biases) train"
    rank1 = model.enable_lora(model.load_tiny_lm(), rank=1)
    assert (rank1.count_params() - tiny_lm.count_params()) * 4 == adapters, "adapter parameters grow linearly with the rank"
    with pytest.raises(ModelError):
        model.enable_lora(lm, rank=0)


def test_save_and_load_keras_file_round_trip_with_lora_merged(tmp_path):
    lm = model.load_tiny_lm()
    model.enable_lora(lm, rank=2)
    # Move the adapters away from their zero start so the merge matters.
    for weight in lm.trainable_weights:
        weight.assign(np.random.default_rng(0).normal(0, 0.05, weight.shape).astype("float32"))
    x = {"token_ids": np.array([[0xFE, 84, 104, 101, 32]], np.int32), "padding_mask": np.ones((1, 5), np.int32)}
    before = np.asarray(lm(x))
    path = model.save_lm(lm, tmp_path / "sub" / "legal.keras")
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))
    loaded = model.load_lm(str(path))
    assert np.allclose(np.asarray(loaded(x)), before, atol=1e-4)
    assert isinstance(loaded.preprocessor.tokenizer, model.ByteLevelTokenizer)
    assert freeze.count_params(loaded)[0] == model.load_tiny_lm().count_params()


def test_load_lm_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="unknown model"):
        model.load_lm("gpt5")
    with pytest.raises(ModelError, match="does not exist"):
        model.load_lm(str(tmp_path / "nope.keras"))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable Keras model"):
        model.load_lm(str(bad))
    with pytest.raises(ModelError, match=".keras"):
        model.save_lm(model.build_tiny_lm({"num_layers": 1}), tmp_path / "x.h5")
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OfflineError, match="tiny"):
        model.load_lm("gpt2_base_en")
    assert time.perf_counter() - start < 1
