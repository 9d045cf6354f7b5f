"""ftlab.text.generate and widgets: samplers, length, determinism, agreement with KerasHub."""

from __future__ import annotations

import numpy as np
import pytest

from ftlab.errors import DataError
from ftlab.text import generate, model, widgets


@pytest.fixture(scope="module")
def tiny_lm():
    return model.load_tiny_lm()


def _entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_next_token_probabilities():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    greedy = generate.next_token_probabilities(logits, temperature=0)
    assert greedy.tolist() == [1, 0, 0, 0]
    plain = generate.next_token_probabilities(logits)
    assert np.allclose(plain, [0.4, 0.3, 0.2, 0.1])
    assert _entropy(generate.next_token_probabilities(logits, 0.5)) < _entropy(plain) < _entropy(
        generate.next_token_probabilities(logits, 2.0))
    top2 = generate.next_token_probabilities(logits, top_k=2)
    assert np.count_nonzero(top2) == 2 and np.isclose(top2.sum(), 1) and np.allclose(top2[:2], [4 / 7, 3 / 7])
    nucleus = generate.next_token_probabilities(logits, top_p=0.65)
    assert np.count_nonzero(nucleus) == 2, "0.4 < 0.65 ≤ 0.4 + 0.3"
    assert np.count_nonzero(generate.next_token_probabilities(logits, top_p=0.01)) == 1
    forbidden = generate.next_token_probabilities(logits, temperature=0, forbidden=[0])
    assert forbidden.tolist() == [0, 1, 0, 0]


def test_generate_respects_max_length(tiny_lm):
    prompt = "The Licensee shall"
    room = lambda max_length: max_length - 1 - len(prompt.encode())  # noqa: E731 (start marker + prompt)
    for max_length in (24, 64):
        texts, tokens = generate.generate_batch(tiny_lm, prompt, [{"temperature": 1.0}], max_length, seed=3,
                                                stop_at_end=False, return_tokens=True)
        assert len(tokens[0]) == room(max_length)
        _, stopping = generate.generate_batch(tiny_lm, prompt, [{"temperature": 1.0}], max_length, seed=3,
                                              return_tokens=True)
        assert stopping[0] == tokens[0][:len(stopping[0])], "stopping at the end token only shortens"
        assert generate.generate(tiny_lm, prompt, max_length=max_length, temperature=1.0, seed=3).startswith(prompt)


def test_greedy_is_deterministic_and_matches_keras_hub(tiny_lm):
    a = generate.generate(tiny_lm, "Permission is hereby", max_length=64, temperature=0, seed=1)
    b = generate.generate(tiny_lm, "Permission is hereby", max_length=64, temperature=0, seed=2)
    assert a == b
    tiny_lm.compile(sampler=generate.keras_hub_sampler(temperature=0))
    assert tiny_lm.generate("Permission is hereby", max_length=64) == a


def test_sampling_is_repeatable_with_a_seed_and_varies_without(tiny_lm):
    settings = {"max_length": 80, "temperature": 1.2, "top_k": 40}
    one = generate.generate(tiny_lm, "The ", seed=5, **settings)
    assert one == generate.generate(tiny_lm, "The ", seed=5, **settings)
    others = {generate.generate(tiny_lm, "The ", seed=s, **settings) for s in range(6, 10)}
    assert len(others | {one}) > 1


def test_side_by_side_columns_equal_single_generations(tiny_lm):
    samples = generate.side_by_side(tiny_lm, "Section 1.", max_length=48, seed=4)
    assert list(samples) == list(generate.STRATEGIES)
    for name in ("greedy", "top-p 0.9"):
        single = generate.generate(tiny_lm, "Section 1.", max_length=48, seed=4, **generate.STRATEGIES[name])
        assert single == "Section 1." + samples[name], "a row does not depend on the other rows"


@pytest.mark.parametrize("kwargs, match", [
    ({"prompt": "   "}, "empty"),
    ({"prompt": "x" * 70}, "no room"),
    ({"prompt": "ok", "max_length": 10_000}, "positions"),
    ({"prompt": "ok", "temperature": -1}, "temperature"),
    ({"prompt": "ok", "top_p": 1.5}, "top-p"),
])
def test_bad_generation_requests_are_data_errors(tiny_lm, kwargs, match):
    kwargs = {"max_length": 64, **kwargs}
    with pytest.raises(DataError, match=match):
        generate.generate(tiny_lm, **kwargs)


def test_keras_hub_sampler_kinds():
    import keras_hub

    assert isinstance(generate.keras_hub_sampler(0), keras_hub.samplers.GreedySampler)
    assert isinstance(generate.keras_hub_sampler(1.0, top_k=5), keras_hub.samplers.TopKSampler)
    assert isinstance(generate.keras_hub_sampler(1.0, top_p=0.9), keras_hub.samplers.TopPSampler)
    assert isinstance(generate.keras_hub_sampler(0.7), keras_hub.samplers.RandomSampler)


def test_generation_with_a_bpe_tokenizer():
    import keras_hub

    # A tiny GPT-2 BPE vocabulary built here (no download), as in KerasHub's GPT2CausalLM docs.
    merges = ["u i", "c k", "ui ck", "Ġ q", "Ġq uick", "Ġ f", "o x", "Ġf ox"]
    tokens = ["<|endoftext|>", "a", "Ġquick", "Ġfox", *"Ġquickfox"]
    tokens += [a + b for a, b in (m.split() for m in merges) if a + b not in tokens]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=16)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer=tokenizer, sequence_length=16)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)
    from ftlab.text import train

    assert train.encode_text(tokenizer, "a quick fox").tolist() == [1, 2, 3]
    text = generate.generate(lm, "a quick", max_length=10, temperature=1.0, seed=0)
    assert text.startswith("a quick")
    assert train.perplexity(lm, ["a quick fox", "a fox"], sequence_length=8) > 1


def test_sampling_panel_from_code_and_as_widget(tiny_lm):
    panel = widgets.SamplingPanel({"pretrained": tiny_lm}, prompt="The Software", max_length=48)
    samples = panel.samples()
    assert list(samples) == ["pretrained"] and len(samples["pretrained"]) == 4
    assert "greedy" in panel.text() and "<table>" in panel.html()
    box = panel.widget()
    assert box.children and "<table>" in panel.output.value
    panel.controls["temperature"].value = 1.5
    assert "T=1.5" in panel.output.value, "changing a slider regenerates"
    panel.controls["prompt"].value = "Section 2"
    panel.button.click()
    assert "Section 2" in panel.output.value


def test_sampling_panel_prints_where_widgets_cannot_render(tiny_lm, capsys):
    assert widgets.SamplingPanel(tiny_lm, prompt="Terms", max_length=40).show() is None
    out = capsys.readouterr().out
    assert "prompt: 'Terms'" in out and "top-p" in out


def test_closing_the_panel_and_the_map_lets_the_model_be_freed():
    """Jupyter keeps widgets (and their callbacks) until they are closed: close() lets go of the model."""
    import gc
    import weakref

    import ftlab.widgets

    lm = model.load_lm("tiny")
    panel = widgets.SamplingPanel({"pretrained": lm}, prompt="The Software", max_length=24)
    panel.widget()
    network_map = ftlab.widgets.NetworkMap(lm, variable="lm")
    ref = weakref.ref(lm)
    panel.close()
    network_map.close()
    assert panel.models == {} and network_map.model is None
    del lm
    gc.collect()
    assert ref() is None
