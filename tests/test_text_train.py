"""ftlab.text.train: windows, exact perplexity, fine-tuning, small-corpus warning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftlab.errors import DataError
from ftlab.text import model, train


def test_encode_stream_marks_document_boundaries():
    tok = model.ByteLevelTokenizer()
    assert train.encode_stream(tok, ["Ab", "é"]).tolist() == [0xFE, 65, 98, 0xFF, 0xFE, 0xC3, 0xA9, 0xFF]


def test_eval_windows_predict_every_token_exactly_once():
    stream = np.arange(1, 301, dtype=np.int32)
    w = train.eval_windows(stream, sequence_length=64)
    targets = w["targets"][w["weights"] > 0]
    assert sorted(targets.tolist()) == list(range(2, 301))
    assert (w["padding_mask"] == (w["weights"] > 0)).all()
    row, col = np.nonzero(w["weights"])
    assert (w["token_ids"][row, col] + 1 == w["targets"][row, col]).all()
    sub = train.eval_windows(stream, 64, max_windows=2)
    assert len(sub["token_ids"]) == 2 and sub["token_ids"][0, 0] == 1


def test_training_batches_are_windows_of_the_stream_and_repeatable():
    stream = np.arange(1000, dtype=np.int32)
    batches = list(train.training_batches(stream, 4, 16, steps=3, seed=7))
    assert len(batches) == 3
    x, y, w = batches[0]
    ids, targets = x["token_ids"].numpy(), y.numpy()
    assert ids.shape == (4, 16) and (targets == ids + 1).all() and (np.diff(ids, axis=1) == 1).all()
    again = next(iter(train.training_batches(stream, 4, 16, steps=3, seed=7)))
    assert (again[0]["token_ids"].numpy() == ids).all()


def test_perplexity_of_a_know_nothing_model_is_exactly_256():
    lm = model.build_tiny_lm({"num_layers": 1})
    embedding = lm.backbone.token_embedding.embeddings
    embedding.assign(np.zeros(embedding.shape, "float32"))  # tied output layer: every logit is 0
    texts = ["short", "a somewhat longer text that spans more than one window of sixteen bytes"]
    assert math.isclose(train.perplexity(lm, texts, sequence_length=16), 256.0, rel_tol=1e-4)


def test_fine_tuning_learns_a_text_and_reports_what_it_did():
    lm = model.build_tiny_lm({"num_layers": 1, "hidden_dim": 64, "intermediate_dim": 128, "num_heads": 2})
    text = "The Licensee shall not sublicense the Software. " * 20
    before = train.perplexity(lm, text, sequence_length=32)
    seen = []
    result = train.finetune(lm, text, text, steps=30, batch_size=8, sequence_length=32, records=3,
                             on_record=lambda *a: seen.append(a))
    after = train.perplexity(lm, text, sequence_length=32)
    assert after < before / 3
    assert result.steps == 30 and result.history["step"] == [10, 20, 30] and len(seen) == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.trainable_params == result.total_params == lm.count_params()
    assert result.seconds > 0 and 0 < result.seconds_per_step < result.seconds
    assert result.peak_rss_mb > 100 and result.train_state_mb > 0 and not result.warnings
    assert lm.preprocessor is not None, "the tokenizer is re-attached after training"


def test_lora_fine_tuning_changes_only_the_adapters():
    lm = model.build_tiny_lm({"num_layers": 1, "hidden_dim": 64, "intermediate_dim": 128, "num_heads": 2})
    before = {w.path: w.numpy().copy() for w in lm.weights}
    result = train.finetune(lm, "Section 1. Definitions. " * 30, steps=4, batch_size=4, sequence_length=32,
                             lora_rank=2, records=1)
    assert result.trainable_params < result.total_params / 10
    frozen = [w for w in lm.non_trainable_weights if w.path in before]
    assert len(frozen) > 10 and all(np.array_equal(w.numpy(), before[w.path]) for w in frozen), "base stays frozen"
    assert any("lora_kernel_b" in w.path and np.abs(w.numpy()).sum() > 0 for w in lm.trainable_weights)


def test_corpus_smaller_than_one_window_warns_and_still_trains():
    lm = model.build_tiny_lm({"num_layers": 1, "hidden_dim": 32, "intermediate_dim": 64, "num_heads": 2})
    with pytest.warns(train.SmallCorpusWarning, match="less than one training window"):
        result = train.finetune(lm, "Tiny.", steps=2, batch_size=2, sequence_length=64, records=1)
    assert result.warnings and "Tiny" not in result.warnings[0]


def test_empty_training_text_is_a_data_error():
    lm = model.build_tiny_lm({"num_layers": 1, "hidden_dim": 32, "intermediate_dim": 64, "num_heads": 2})
    with pytest.raises(DataError, match="empty"):
        train.finetune(lm, ["", "  \n"], steps=2)


def test_peak_rss_sees_an_allocation():
    with train.PeakRSS(interval=0.005) as memory:
        block = np.ones(50_000_000 // 8)
        block.sum()
    assert memory.peak_mb >= memory.start_mb + 20


def test_a_model_that_was_scored_and_sampled_can_be_freed():
    """The compiled functions cached per model hold it weakly: deleting the model frees it (and its graphs)."""
    import gc
    import weakref

    from ftlab.text import generate, model, train

    lm = model.load_lm("tiny")
    train.perplexity(lm, "Some text to score here. " * 10, sequence_length=32)
    generate.generate(lm, "The", max_length=12, temperature=0)
    ref = weakref.ref(lm)
    del lm
    gc.collect()
    assert ref() is None


def test_fine_tune_drops_the_traced_functions_it_made_stale():
    """Scoring and decoding graphs are dropped before training, the training step after it."""
    from ftlab.text import generate

    lm = model.build_tiny_lm({"num_layers": 1, "hidden_dim": 32, "intermediate_dim": 64, "num_heads": 2})
    text = "Licensee shall not sublicense. " * 20
    train.perplexity(lm, text, sequence_length=16)
    generate.generate(lm, "Licensee", max_length=16, temperature=0)
    assert lm in train._NLL_FUNCTIONS and lm in generate._STEP_FUNCTIONS
    train.finetune(lm, text, steps=2, batch_size=2, sequence_length=16, records=1)
    assert lm not in train._NLL_FUNCTIONS and lm not in generate._STEP_FUNCTIONS
    assert lm.train_function is None and lm.generate_function is None
    before = train.perplexity(lm, text, sequence_length=16)  # traced again, with the trained weights
    assert lm in train._NLL_FUNCTIONS and before > 1
    train.forget_traced(lm)
    assert lm not in train._NLL_FUNCTIONS and train.perplexity(lm, text, sequence_length=16) == pytest.approx(before)
