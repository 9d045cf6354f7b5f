"""Text as token windows (lesson 03): every text becomes one token stream, ``start + tokens + end`` per
document, documents one after the other. Training draws random windows from the stream
(:func:`training_batches`); evaluation walks it in non-overlapping windows (:func:`eval_windows`),
each token predicted once, with the padding of the last one masked.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ftlab.errors import DataError
from ftlab.text.corpora import Corpus
from ftlab.text.model import ByteLevelTokenizer

DEFAULT_SEQUENCE_LENGTH = 128


class SmallCorpusWarning(UserWarning):
    """The training corpus is shorter than one training window."""


def _as_texts(data) -> tuple[list[str], str]:
    if isinstance(data, Corpus):
        return data.texts, data.name
    if isinstance(data, str):
        return [data], "text"
    texts = list(data)
    if texts and not all(isinstance(t, str) for t in texts):
        raise TypeError("expected a Corpus, a string or a list of strings")
    return texts, "texts"


def encode_text(tokenizer, text: str) -> np.ndarray:
    """Token ids of one text (int32). Bytes of the UTF-8 encoding for the byte-level tokenizer.

    Example:
        >>> encode_text(ByteLevelTokenizer(), "Aé").tolist()
        [65, 195, 169]
    """
    if isinstance(tokenizer, ByteLevelTokenizer):
        return np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8).astype(np.int32)
    ids = tokenizer.tokenize(text)
    ids = ids.numpy() if hasattr(ids, "numpy") else ids
    return np.asarray(ids, dtype=np.int32).reshape(-1)


def encode_stream(tokenizer, data) -> np.ndarray:
    """One int32 stream: ``start, tokens…, end`` for each document, concatenated.

    Args:
        tokenizer: a KerasHub tokenizer with ``start_token_id`` and ``end_token_id``.
        data: a :class:`~ftlab.text.corpora.Corpus`, a string, or a list of strings.

    Example:
        >>> encode_stream(ByteLevelTokenizer(), ["ab", "c"]).tolist()
        [254, 97, 98, 255, 254, 99, 255]
    """
    texts, _ = _as_texts(data)
    start, end = tokenizer.start_token_id, tokenizer.end_token_id
    parts = []
    for text in texts:
        parts += [np.array([start], np.int32), encode_text(tokenizer, text), np.array([end], np.int32)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def eval_windows(stream: np.ndarray, sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
                 max_windows: int | None = None, pad_id: int = 0) -> dict:
    """Non-overlapping evaluation windows over a token stream, padding masked.

    Window ``i`` holds inputs ``stream[iL : iL+L]`` and targets ``stream[iL+1 : iL+L+1]``, so every
    token after the first is predicted exactly once. With ``max_windows``, evenly spaced windows
    are kept (deterministic).

    Returns:
        dict of int32 arrays ``token_ids``, ``padding_mask``, ``targets`` and float32 ``weights``
        (1 for real targets, 0 for padding), each ``(n_windows, L)``.

    Example:
        >>> w = eval_windows(np.arange(1, 11), sequence_length=4)
        >>> w["targets"].tolist(), w["weights"].sum()
        ([[2, 3, 4, 5], [6, 7, 8, 9], [10, 0, 0, 0]], 9.0)
    """
    stream = np.asarray(stream, np.int32)
    n_targets = len(stream) - 1
    if n_targets < 1:
        raise DataError("the text is too short to evaluate: it needs at least two tokens")
    length = int(sequence_length)
    n_windows = math.ceil(n_targets / length)
    starts = np.arange(n_windows) * length
    if max_windows is not None and n_windows > max_windows:
        starts = starts[np.linspace(0, n_windows - 1, int(max_windows)).round().astype(int)]
    shape = (len(starts), length)
    token_ids = np.full(shape, pad_id, np.int32)
    targets = np.full(shape, pad_id, np.int32)
    weights = np.zeros(shape, np.float32)
    for row, start in enumerate(starts):
        count = min(length, n_targets - start)
        token_ids[row, :count] = stream[start:start + count]
        targets[row, :count] = stream[start + 1:start + count + 1]
        weights[row, :count] = 1.0
    return {"token_ids": token_ids, "padding_mask": (weights > 0).astype(np.int32),
            "targets": targets, "weights": weights}


def training_batches(stream, batch_size: int, sequence_length: int, steps: int, seed: int = 0,
                     pad_id: int = 0):
    """A ``tf.data.Dataset`` of ``steps`` batches of random windows from a token stream.

    Window starts are drawn up front from a seeded NumPy generator, so a run is repeatable.
    Each element is ``({"token_ids", "padding_mask"}, targets, weights)``. A stream shorter than
    one window yields that one window, padded and masked, in every batch.

    Example:
        >>> ds = training_batches(np.arange(1, 1000), batch_size=4, sequence_length=16, steps=3)
        >>> [tuple(x["token_ids"].shape) for x, y, w in ds]
        [(4, 16), (4, 16), (4, 16)]
    """
    stream = np.asarray(stream, np.int32)
    length, batch_size, steps = int(sequence_length), int(batch_size), int(steps)
    if len(stream) < length + 1:
        window = eval_windows(stream, length, max_windows=1, pad_id=pad_id)
        batch = tuple(np.repeat(window[k], batch_size, axis=0)
                      for k in ("token_ids", "padding_mask", "targets", "weights"))
        element = ({"token_ids": batch[0], "padding_mask": batch[1]}, batch[2], batch[3])
        return tf.data.Dataset.from_tensors(element).repeat(steps)
    starts = np.random.default_rng(seed).integers(0, len(stream) - length, size=(steps, batch_size))
    stream_t = tf.constant(stream)
    offsets = tf.range(length + 1)

    def windows(batch_starts):
        w = tf.gather(stream_t, batch_starts[:, None] + offsets[None, :])
        ones = tf.ones_like(w[:, :-1])
        return {"token_ids": w[:, :-1], "padding_mask": ones}, w[:, 1:], tf.cast(ones, tf.float32)

    return tf.data.Dataset.from_tensor_slices(starts.astype(np.int32)).map(windows).prefetch(2)
