"""Scoring a causal language model on text (lesson 03): mean negative log-likelihood, perplexity and
bits per byte.

Perplexity is ``exp(mean negative log-likelihood per token)``; for the byte-level tiny model a token
is a byte (UTF-8), for GPT-2 or SmolLM2 a BPE token, so perplexities of different tokenizers are not
comparable. Bits per byte are: they divide the summed loss by the bytes of text scored.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import tensorflow as tf

from ftlab.errors import DataError
from ftlab.text.model import ByteLevelTokenizer, tokenizer_of
from ftlab.text.windows import DEFAULT_SEQUENCE_LENGTH, encode_stream, eval_windows

_NLL_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _nll_function(lm):
    """A compiled (summed NLL, count) function; rebuilt when the model's weights change (LoRA)."""
    key = len(lm.weights)
    cached = _NLL_FUNCTIONS.get(lm)
    if cached is not None and cached[0] == key:
        return cached[1]

    # The function holds the model weakly: a strong reference from the cache's value to its key
    # would keep every model (and its traced graphs) alive for the life of the process.
    model_ref = weakref.ref(lm)

    @tf.function(reduce_retracing=True, autograph=False)
    def summed_nll(token_ids, padding_mask, targets, weights):
        logits = model_ref()({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))
        return tf.reduce_sum(nll * weights), tf.reduce_sum(weights)

    _NLL_FUNCTIONS[lm] = (key, summed_nll)
    return summed_nll


def _windows_of(lm, data, sequence_length, max_windows) -> dict:
    if isinstance(data, dict):
        return data
    tokenizer = tokenizer_of(lm)
    stream = data if isinstance(data, np.ndarray) else encode_stream(tokenizer, data)
    return eval_windows(stream, sequence_length, max_windows, pad_id=tokenizer.pad_token_id)


def _summed_nll(lm, windows: dict, batch_size: int | None = None) -> tuple[float, float]:
    """(summed NLL in nats, number of predicted tokens) over evaluation windows."""
    if batch_size is None:
        # Keep one batch of logits around 32 MB: 32 windows for bytes, 1 for GPT-2's 50,257 tokens.
        per_window = windows["token_ids"].shape[1] * int(lm.backbone.vocabulary_size)
        batch_size = max(1, min(32, 8_000_000 // per_window))
    n = len(windows["token_ids"])
    extra = -n % batch_size
    if extra:
        # Fill the last batch with weightless windows: one batch shape means one traced function.
        windows = {k: np.concatenate([v, np.zeros((extra, *v.shape[1:]), v.dtype)]) for k, v in windows.items()}
        windows["padding_mask"][n:] = 1
        n += extra
    fn = _nll_function(lm)
    total, count = 0.0, 0.0
    for start in range(0, n, batch_size):
        batch = [tf.constant(windows[k][start:start + batch_size])
                 for k in ("token_ids", "padding_mask", "targets", "weights")]
        s, c = fn(*batch)
        total += float(s)
        count += float(c)
    return total, count


def mean_nll(lm, data, sequence_length: int = DEFAULT_SEQUENCE_LENGTH, batch_size: int | None = None,
             max_windows: int | None = None) -> float:
    """Mean negative log-likelihood per token (nats) of ``data`` under ``lm``; see :func:`perplexity`."""
    total, count = _summed_nll(lm, _windows_of(lm, data, sequence_length, max_windows), batch_size)
    return total / count


_BYTE_LENGTHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def token_byte_lengths(tokenizer) -> np.ndarray:
    """How many bytes of UTF-8 text each token id stands for (0 for special tokens).

    One for every byte of the byte-level tokenizer. Byte-level BPE (GPT-2, SmolLM2) writes each
    byte of a token as one character of its vocabulary entry (GPT-2's ``bytes_to_unicode``
    table), so a token's byte count is the length of its entry.

    Example:
        >>> token_byte_lengths(ByteLevelTokenizer())[[65, 254]].tolist()
        [1, 0]
    """
    cached = _BYTE_LENGTHS.get(tokenizer)
    if cached is not None:
        return cached
    if isinstance(tokenizer, ByteLevelTokenizer):
        lengths = np.ones(256, np.int32)
    else:
        lengths = np.array([len(token) for token in tokenizer.get_vocabulary()], np.int32)
    lengths[[int(i) for i in tokenizer.special_token_ids]] = 0
    _BYTE_LENGTHS[tokenizer] = lengths
    return lengths


def bits_per_byte(lm, data, sequence_length: int = DEFAULT_SEQUENCE_LENGTH, batch_size: int | None = None,
                  max_windows: int | None = None) -> float:
    """Bits the model needs per byte of text: a score that compares across tokenizers.

    Perplexity is per *token*, and a GPT-2 token is about four bytes while a byte model's token is
    one, so their perplexities cannot be compared. Dividing the summed NLL of the evaluated tokens
    by the number of bytes those tokens spell (and by ln 2, nats → bits) can: 8 bits per byte is a
    model that knows nothing about UTF-8 text, lower is better. Same arguments as
    :func:`perplexity`.

    Example:
        >>> bits_per_byte(ftlab.text.model.load_tiny_lm(), "The Software is provided as is.")  # doctest: +SKIP
        2.4
    """
    return scores(lm, data, sequence_length, batch_size, max_windows)["bits_per_byte"]


def perplexity(lm, data, sequence_length: int = DEFAULT_SEQUENCE_LENGTH, batch_size: int | None = None,
               max_windows: int | None = None) -> float:
    """Per-token perplexity of a text, a list of texts or a corpus: ``exp(mean NLL)``.

    A perplexity of 4 means the model is, on average, as unsure as a fair choice between 4
    tokens. A model that knows nothing about bytes scores 256 (or more, if confidently wrong).

    Args:
        lm: a KerasHub causal LM with a tokenizer attached.
        data: ``Corpus``, ``str``, list of ``str``, an encoded stream, or windows from
            :func:`eval_windows`.
        sequence_length: window length (context) in tokens.
        batch_size: windows per forward pass (default: as many as keep the logits near 32 MB).
        max_windows: evaluate at most this many evenly spaced windows (faster, a little noisier).

    Example:
        >>> perplexity(ftlab.text.model.load_tiny_lm(), "The Software is provided as is.")  # doctest: +SKIP
        5.1
    """
    return math.exp(mean_nll(lm, data, sequence_length, batch_size, max_windows))


def scores(lm, data, sequence_length: int = DEFAULT_SEQUENCE_LENGTH, batch_size: int | None = None,
           max_windows: int | None = None) -> dict:
    """``{"perplexity", "bits_per_byte"}`` of ``data`` from one pass over it (see both functions).

    Raises:
        DataError: the scored tokens spell no bytes (only special tokens).
    """
    windows = _windows_of(lm, data, sequence_length, max_windows)
    total, count = _summed_nll(lm, windows, batch_size)
    lengths = token_byte_lengths(tokenizer_of(lm))
    n_bytes = float((lengths[windows["targets"]] * windows["weights"]).sum())
    if n_bytes <= 0:
        raise DataError("the text has no bytes to score (only special tokens)")
    return {"perplexity": math.exp(total / count), "bits_per_byte": total / math.log(2) / n_bytes}
