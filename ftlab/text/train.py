"""Training and evaluating causal language models on corpora: windows, perplexity, fine-tuning.

Every text becomes one token stream: ``start + tokens + end`` per document, documents one after
the other. Training draws random windows from the stream; evaluation walks it in
non-overlapping windows (each token predicted once) and masks the padding of the last one.

Perplexity is ``exp(mean negative log-likelihood per token)``; for the byte-level tiny model a
token is a byte (UTF-8), for GPT-2 a BPE token, so the two are not comparable with each other.

Introduced in lesson 03.

Example:
    >>> lm = ftlab.text.model.load_tiny_lm()  # doctest: +SKIP
    >>> train, val = ftlab.text.corpora.split_by_document(ftlab.text.corpora.license_corpus())  # doctest: +SKIP
    >>> perplexity(lm, val)  # doctest: +SKIP
    >>> result = fine_tune(lm, train, val, steps=100, lora_rank=4)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import math
import threading
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ftlab.errors import DataError
from ftlab.text.corpora import Corpus
from ftlab.text.model import ByteLevelTokenizer, count_params, enable_lora, tokenizer_of

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


class PeakRSS:
    """Context manager sampling this process's resident memory every ``interval`` seconds.

    Attributes after the block: ``start_mb``, ``peak_mb`` (highest RSS seen during the block).

    Example:
        >>> with PeakRSS() as mem:
        ...     _ = bytearray(10_000_000)
        >>> mem.peak_mb >= mem.start_mb
        True
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()

    @staticmethod
    def _rss_mb() -> float:
        import psutil

        return psutil.Process().memory_info().rss / 2**20

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._rss_mb())

    def __enter__(self):
        self.start_mb = self.peak_mb = self._rss_mb()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())
        return False


@dataclass
class TrainResult:
    """What :func:`fine_tune` did and measured.

    Attributes:
        steps: optimizer steps taken.
        seconds: wall time of training (graph tracing included).
        seconds_per_step: median time of one step after the first (tracing excluded).
        trainable_params / total_params: parameter counts.
        train_state_mb: weights + gradients + Adam's two moments, in MiB (4 bytes each): the
            memory that does not depend on batch size and that LoRA shrinks.
        peak_rss_mb: highest resident memory of the whole process during training.
        history: ``step``, ``loss`` (mean training loss in nats/token since the last record) and
            ``val_perplexity`` lists, one entry per record.
        warnings: messages about the data (e.g. a corpus smaller than one window).
    """

    steps: int
    seconds: float
    seconds_per_step: float
    trainable_params: int
    total_params: int
    train_state_mb: float
    peak_rss_mb: float
    history: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.durations = []
        self._t0 = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.durations.append(time.perf_counter() - self._t0)


class _History(keras.callbacks.Callback):
    def __init__(self, steps_per_record, val_windows, on_record=None):
        super().__init__()
        self.steps_per_record = steps_per_record
        self.val_windows = val_windows
        self.on_record = on_record
        self.history = {"step": [], "loss": [], "val_perplexity": []}

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_record
        self.history["step"].append(step)
        self.history["loss"].append(float(logs["loss"]))
        val = math.exp(mean_nll(self.model, self.val_windows)) if self.val_windows is not None else None
        self.history["val_perplexity"].append(val)
        if self.on_record is not None:
            self.on_record(step, float(logs["loss"]), val)


def forget_traced(lm) -> None:
    """Drop the functions traced to score and to generate with ``lm``; the next use traces anew.

    Each holds a graph of the whole model (0.1–0.2 GiB for SmolLM2). :func:`fine_tune` drops
    them before training, so training reuses that memory (and LoRA would make them stale anyway).
    """
    from ftlab.text import generate

    _NLL_FUNCTIONS.pop(lm, None)
    generate._STEP_FUNCTIONS.pop(lm, None)
    lm.generate_function = None
    gc.collect()


def fine_tune(lm, train, val=None, *, steps: int = 200, batch_size: int = 16,
              sequence_length: int = DEFAULT_SEQUENCE_LENGTH, learning_rate: float = 1e-3,
              lora_rank: int | None = None, lora_targets=None, records: int = 10, max_val_windows: int | None = 64,
              seed: int = 0, on_record=None) -> TrainResult:
    """Train a causal LM on a corpus with ``fit``: full fine-tuning, or LoRA with ``lora_rank``.

    Adam with gradient clipping, a short warm-up then cosine decay to a tenth of
    ``learning_rate``. Use 1e-3 for the byte-level tiny model (3e-3 makes it collapse).

    Validation perplexity is computed by a callback with :func:`perplexity`'s exact masked
    per-token mean (not ``fit``'s ``validation_data``, whose batch-averaged loss is slightly off
    with padding), which also reuses one compiled function for the whole lesson.

    Args:
        lm: a KerasHub causal LM (changed in place).
        train: training text (``Corpus``, ``str``, list of ``str``).
        val: held-out text for ``val_perplexity`` in the history (optional).
        steps: optimizer steps (batches).
        batch_size: windows per step.
        sequence_length: tokens per window.
        learning_rate: peak learning rate.
        lora_rank: freeze the backbone and train rank-``r`` LoRA adapters instead.
        lora_targets: layer names for the adapters (default: attention query and value; see
            :data:`ftlab.text.model.LORA_ALL_LAYERS`).
        records: how many times to record the loss (and validation perplexity).
        max_val_windows: validation windows per record (evenly spaced).
        seed: seed of the window sampler.
        on_record: ``callback(step, loss, val_perplexity)`` after each record (live plots).

    Returns:
        :class:`TrainResult`.

    Raises:
        DataError: the training text is empty.

    Example:
        >>> result = fine_tune(lm, train, val, steps=200, lora_rank=4)  # doctest: +SKIP
        >>> result.trainable_params, round(result.seconds_per_step, 3)  # doctest: +SKIP
    """
    tokenizer = tokenizer_of(lm)
    texts, name = _as_texts(train)
    if not any(t.strip() for t in texts):
        raise DataError(f"{name}: the training corpus is empty: give it some text")
    stream = encode_stream(tokenizer, texts)
    messages = []
    if len(stream) < sequence_length + 1:
        message = (f"{name}: {len(stream)} tokens is less than one training window "
                   f"({sequence_length + 1}); the model sees the same padded window every step "
                   "and will overfit: add text or lower the sequence length")
        warnings.warn(message, SmallCorpusWarning, stacklevel=2)
        messages.append(message)
    val_windows = None
    if val is not None:
        val_stream = encode_stream(tokenizer, val)
        val_windows = eval_windows(val_stream, sequence_length, max_val_windows, pad_id=tokenizer.pad_token_id)

    if lora_rank:
        enable_lora(lm, lora_rank, lora_targets)
    forget_traced(lm)
    records = max(1, min(int(records), int(steps)))
    steps_per_record = max(1, int(steps) // records)
    steps = steps_per_record * records
    warmup = min(100, steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10 if warmup else learning_rate,
        decay_steps=max(1, steps - warmup), alpha=0.1,
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    preprocessor = lm.preprocessor
    lm.preprocessor = None  # batches are already token windows
    try:
        lm.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=1.0),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                   reduction="mean_with_sample_weight"),
                   weighted_metrics=[])
        # Create Adam's moment variables now, eagerly: created inside the first traced step,
        # they make TensorFlow trace the whole step twice (about a third of fit's start-up).
        lm.optimizer.build(lm.trainable_variables)
        data = training_batches(stream, batch_size, sequence_length, steps, seed=seed,
                                pad_id=tokenizer.pad_token_id)
        timer, recorder = _StepTimer(), _History(steps_per_record, val_windows, on_record)
        params = count_params(lm)
        start = time.perf_counter()
        with PeakRSS() as memory:
            lm.fit(data, epochs=records, steps_per_epoch=steps_per_record, shuffle=False, verbose=0,
                   callbacks=[timer, recorder])
        seconds = time.perf_counter() - start
    finally:
        lm.preprocessor = preprocessor
    # Drop the traced training step too (its graph and buffers are ~0.3 GiB for SmolLM2): scoring
    # and generating afterwards reuse that memory, and a later fit traces a fresh step anyway.
    lm.train_function = None
    gc.collect()
    per_step = float(np.median(timer.durations[1:])) if len(timer.durations) > 1 else seconds
    state_mb = 4 * (params["total"] + 3 * params["trainable"]) / 2**20
    return TrainResult(steps=steps, seconds=seconds, seconds_per_step=per_step,
                       trainable_params=params["trainable"], total_params=params["total"],
                       train_state_mb=state_mb, peak_rss_mb=memory.peak_mb,
                       history=recorder.history, warnings=messages)
