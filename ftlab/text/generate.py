"""Text generation with sampling controls: greedy, temperature, top-k, top-p, side by side.

The model runs through KerasHub's ``call_with_cache`` (one compiled step per model, keys and
values cached), and the choice of the next token happens here in NumPy, in a few visible lines
(:func:`next_token_probabilities`). That is what KerasHub's samplers do too
(``keras_hub.samplers.GreedySampler``, ``TopKSampler``, ``TopPSampler``; see
:func:`keras_hub_sampler`), but doing it outside the graph lets several strategies share one
batch and one compiled function, so a widget can answer at once.

Introduced in lesson 03.

Example:
    >>> lm = ftlab.text.model.load_tiny_lm()  # doctest: +SKIP
    >>> generate(lm, "The licensee shall", max_length=80, temperature=0)  # doctest: +SKIP
    >>> side_by_side(lm, "Permission is hereby granted", STRATEGIES)  # doctest: +SKIP
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from ftlab.errors import DataError
from ftlab.text.model import ByteLevelTokenizer, max_length_of, tokenizer_of
from ftlab.text.train import encode_text

#: The four strategies the lesson compares (each a dict of :func:`generate` keyword arguments).
STRATEGIES = {
    "greedy": {"temperature": 0.0},
    "temperature 0.8": {"temperature": 0.8},
    "top-k 10": {"temperature": 1.0, "top_k": 10},
    "top-p 0.9": {"temperature": 1.0, "top_p": 0.9},
}


def next_token_probabilities(logits, temperature: float = 1.0, top_k: int | None = None,
                             top_p: float | None = None, forbidden=()) -> np.ndarray:
    """Turn one row of logits into the distribution the next token is drawn from.

    Steps, in KerasHub's order: forbid some ids; ``temperature == 0`` means greedy (all mass on
    the arg-max); otherwise divide by the temperature, keep the ``top_k`` largest, softmax, then
    keep the smallest set of tokens whose probabilities add up to ``top_p`` and renormalise.

    Args:
        logits: shape ``(vocabulary,)``.
        temperature: 0 for greedy; below 1 sharpens, above 1 flattens.
        top_k: keep only the k most likely tokens (None or 0: all).
        top_p: nucleus sampling threshold in (0, 1] (None or 1: all).
        forbidden: token ids that must never be produced (padding, start marker).

    Example:
        >>> p = next_token_probabilities(np.log([0.5, 0.3, 0.15, 0.05]), top_p=0.7)
        >>> p.round(3).tolist()
        [0.625, 0.375, 0.0, 0.0]
    """
    z = np.asarray(logits, np.float64).copy()
    forbidden = list(forbidden)
    if forbidden:
        z[forbidden] = -np.inf
    if temperature is None or temperature <= 0:
        probs = np.zeros_like(z)
        probs[int(np.argmax(z))] = 1.0
        return probs
    z = z / float(temperature)
    if top_k and top_k < len(z):
        kth = np.partition(z, -int(top_k))[-int(top_k)]
        z[z < kth] = -np.inf
    z -= z.max()
    probs = np.exp(z)
    probs /= probs.sum()
    if top_p is not None and 0 < top_p < 1:
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]  # mass of the tokens ranked above
        drop = order[before >= top_p]  # the top one always has `before == 0`, so it stays
        probs[drop] = 0.0
        probs /= probs.sum()
    return probs


def next_token_logits(lm, prompt: str) -> np.ndarray:
    """The model's scores (logits) for the token that would follow ``prompt``: shape ``(vocabulary,)``.

    Example:
        >>> logits = next_token_logits(lm, "The Software is provided ")  # doctest: +SKIP
        >>> next_token_probabilities(logits, temperature=0.7)  # doctest: +SKIP
    """
    if not prompt:
        raise DataError("the prompt is empty: give some text to continue")
    tokenizer = tokenizer_of(lm)
    ids = np.concatenate([[tokenizer.start_token_id], encode_text(tokenizer, prompt)]).astype(np.int32)
    ids = ids[-max_length_of(lm):][None, :]
    logits = lm({"token_ids": ids, "padding_mask": np.ones_like(ids)}, training=False)
    return np.asarray(logits, np.float64)[0, -1]


def token_label(lm, token_id: int) -> str:
    """A readable label for one token: the character, ``'\\n'``, ``'␣'`` for a space, or the id."""
    tokenizer = tokenizer_of(lm)
    if token_id == tokenizer.end_token_id:
        return "<end>"
    if isinstance(tokenizer, ByteLevelTokenizer):
        if token_id == 32:
            return "␣"
        if token_id >= 128:
            return f"\\x{token_id:02x}"  # one byte of a multi-byte UTF-8 character
        char = chr(token_id)
        return char if char.isprintable() else repr(char)[1:-1]
    return _decode(tokenizer, [token_id]).replace(" ", "␣")


def _check_strategy(temperature, top_k, top_p) -> None:
    if temperature is not None and temperature < 0:
        raise DataError(f"temperature must be ≥ 0 (got {temperature}); 0 means greedy")
    if top_k is not None and top_k < 0:
        raise DataError(f"top-k must be ≥ 0 (got {top_k}); 0 switches it off")
    if top_p is not None and not 0 < top_p <= 1:
        raise DataError(f"top-p must be in (0, 1] (got {top_p}); 1 switches it off")


def forbidden_ids(tokenizer) -> set[int]:
    """Token ids generation never samples: every special token except the end token.

    The byte model's pad and start bytes, SmolLM2's ``<|endoftext|>`` and ``<|im_start|>``.
    GPT-2's only special token is its end token, so nothing is forbidden there: its pad id 0 is
    the ordinary token ``!``.
    """
    return {int(i) for i in tokenizer.special_token_ids} - {int(tokenizer.end_token_id)}


_STEP_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _step_function(lm):
    """One compiled decoding step, ``(token_ids[B,1], cache, index) -> (logits[B,V], cache)``."""
    key = len(lm.weights)
    cached = _STEP_FUNCTIONS.get(lm)
    if cached is not None and cached[0] == key:
        return cached[1]

    model_ref = weakref.ref(lm)  # held weakly, as in ftlab.text.scoring._nll_function

    @tf.function(reduce_retracing=True, autograph=False)
    def step(token_ids, cache, index):
        logits, _, cache = model_ref().call_with_cache(token_ids, cache, index)
        return logits[:, -1, :], cache

    _STEP_FUNCTIONS[lm] = (key, step)
    return step


def _empty_cache(lm, batch: int, length: int):
    # The cache layout of KerasHub's causal LMs (``_build_cache`` in gpt2_causal_lm.py and
    # llama_causal_lm.py): GPT-2 caches every head, Llama 3 only its key/value heads.
    backbone = lm.backbone
    heads = getattr(backbone, "num_heads", None) or backbone.num_query_heads
    kv_heads = getattr(backbone, "num_key_value_heads", None) or heads
    shape = [batch, backbone.num_layers, 2, length, kv_heads, backbone.hidden_dim // heads]
    return tf.zeros(shape, dtype=lm.compute_dtype)


def _decode(tokenizer, ids) -> str:
    if not ids:
        return ""
    if isinstance(tokenizer, ByteLevelTokenizer):
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")
    out = tokenizer.detokenize([[int(i) for i in ids]])
    out = out.numpy() if hasattr(out, "numpy") else out
    first = out if isinstance(out, str) else out[0]
    return first.decode("utf-8", errors="replace") if isinstance(first, bytes) else str(first)


def generate_batch(lm, prompt: str, strategies: list[dict], max_length: int = 128, seed: int = 0,
                   stop_at_end: bool = True, return_tokens: bool = False):
    """Continue one prompt once per strategy, all in one batch; returns the continuations.

    Args:
        lm: a KerasHub GPT-2 causal LM (the tiny byte model or GPT-2 base).
        prompt: the text to continue (not empty).
        strategies: one dict per row with ``temperature``, ``top_k``, ``top_p``.
        max_length: total length in tokens, start marker and prompt included (as KerasHub's
            ``generate(max_length=...)``); at most the model's ``max_sequence_length``.
        seed: seed of the sampling; the same seed gives the same text.
        stop_at_end: stop a row when it produces the end-of-text token.

    Returns:
        the generated continuation of each row (the prompt not repeated); with
        ``return_tokens=True``, ``(continuations, token id lists)``.

    Raises:
        DataError: empty prompt, a prompt that leaves no room, or a bad setting.
    """
    if not prompt or not prompt.strip():
        raise DataError("the prompt is empty: give some text to continue, e.g. --prompt 'The licensee shall'")
    for s in strategies:
        _check_strategy(s.get("temperature", 1.0), s.get("top_k"), s.get("top_p"))
    tokenizer = tokenizer_of(lm)
    limit = max_length_of(lm)
    if max_length > limit:
        raise DataError(f"max length {max_length} is more than this model's {limit} positions: use --max-length ≤ {limit}")
    ids = np.concatenate([[tokenizer.start_token_id], encode_text(tokenizer, prompt)]).astype(np.int32)
    if len(ids) >= max_length:
        raise DataError(f"the prompt is {len(ids)} tokens (start marker included), which leaves no room "
                        f"below max length {max_length}: shorten it or raise --max-length")
    batch = len(strategies)
    token_ids = np.full((batch, max_length), tokenizer.pad_token_id, np.int32)
    token_ids[:, :len(ids)] = ids
    forbidden = forbidden_ids(tokenizer)
    step = _step_function(lm)
    # One generator per row, all with the same seed: a row's text does not depend on the others,
    # so generate(..., seed=s) gives exactly the matching column of side_by_side(..., seed=s).
    rngs = [np.random.default_rng(seed) for _ in strategies]

    # Prefill: run the whole prompt through the model once to fill the key/value cache.
    prompt_ids = tf.constant(token_ids[:, :len(ids)])
    logits, _, cache = lm.call_with_cache(prompt_ids, _empty_cache(lm, batch, max_length), 0)
    logits = logits[:, -1, :].numpy()
    done = np.zeros(batch, bool)
    outputs = [[] for _ in range(batch)]
    for position in range(len(ids), max_length):
        for row, settings in enumerate(strategies):
            if done[row]:
                continue
            probs = next_token_probabilities(logits[row], settings.get("temperature", 1.0), settings.get("top_k"),
                                             settings.get("top_p"), forbidden)
            token = int(np.argmax(probs)) if probs.max() == 1.0 else int(rngs[row].choice(len(probs), p=probs))
            if stop_at_end and token == tokenizer.end_token_id:
                done[row] = True
                continue
            token_ids[row, position] = token
            outputs[row].append(token)
        if done.all() or position == max_length - 1:
            break
        logits, cache = step(tf.constant(token_ids[:, position:position + 1]), cache, tf.constant(position))
        logits = logits.numpy()
    texts = [_decode(tokenizer, out) for out in outputs]
    return (texts, outputs) if return_tokens else texts


def generate(lm, prompt: str, max_length: int = 128, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int = 0) -> str:
    """Continue ``prompt``; returns prompt + continuation (like KerasHub's ``generate``).

    Args:
        lm: a KerasHub GPT-2 causal LM with its tokenizer.
        prompt: the start of the text.
        max_length: total tokens (start marker and prompt included).
        temperature: 0 = greedy (deterministic); otherwise sample at this temperature.
        top_k: sample among the k most likely tokens only.
        top_p: sample from the smallest set of tokens holding probability ``top_p``.
        seed: sampling seed.

    Example:
        >>> generate(lm, "This License", max_length=60, temperature=0)  # doctest: +SKIP
        'This License shall be ...'
    """
    strategy = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    return prompt + generate_batch(lm, prompt, [strategy], max_length, seed)[0]


def side_by_side(lm, prompt: str, strategies: dict | None = None, max_length: int = 128, seed: int = 0) -> dict:
    """``{strategy name: continuation}`` for several strategies, generated in one batch.

    Example:
        >>> for name, text in side_by_side(lm, "The Software").items():  # doctest: +SKIP
        ...     print(name, "→", text)
    """
    strategies = dict(strategies or STRATEGIES)
    texts = generate_batch(lm, prompt, list(strategies.values()), max_length, seed)
    return dict(zip(strategies, texts))


def keras_hub_sampler(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                      seed: int | None = None):
    """The KerasHub sampler with the same settings, for ``lm.compile(sampler=...)`` + ``lm.generate``.

    Example:
        >>> lm.compile(sampler=keras_hub_sampler(temperature=0))  # doctest: +SKIP
        >>> lm.generate("The licensee", max_length=60)  # doctest: +SKIP
    """
    import keras_hub

    _check_strategy(temperature, top_k, top_p)
    if temperature is None or temperature <= 0:
        return keras_hub.samplers.GreedySampler()
    if top_p is not None and top_p < 1:
        return keras_hub.samplers.TopPSampler(p=top_p, k=top_k or None, seed=seed, temperature=temperature)
    if top_k:
        return keras_hub.samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    return keras_hub.samplers.RandomSampler(seed=seed, temperature=temperature)
