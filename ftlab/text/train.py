"""Fine-tuning causal language models on corpora (lesson 03), with the windows and scores it uses.

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
    >>> result = finetune(lm, train, val, steps=100, lora_rank=4)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import keras
import numpy as np

from ftlab.errors import DataError
from ftlab.freeze import count_params
from ftlab.memory import PeakRSS
from ftlab.text.model import enable_lora, tokenizer_of
from ftlab.text.scoring import (  # noqa: F401  (ftlab.text.train.perplexity … as the lesson calls them)
    _NLL_FUNCTIONS,
    bits_per_byte,
    mean_nll,
    perplexity,
    scores,
    token_byte_lengths,
)
from ftlab.text.windows import (  # noqa: F401
    DEFAULT_SEQUENCE_LENGTH,
    SmallCorpusWarning,
    _as_texts,
    encode_stream,
    encode_text,
    eval_windows,
    training_batches,
)


@dataclass
class TrainResult:
    """What :func:`finetune` did and measured.

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

    Each holds a graph of the whole model (0.1–0.2 GiB for SmolLM2). :func:`finetune` drops
    them before training, so training reuses that memory (and LoRA would make them stale anyway).
    """
    from ftlab.text import generate

    _NLL_FUNCTIONS.pop(lm, None)
    generate._STEP_FUNCTIONS.pop(lm, None)
    lm.generate_function = None
    gc.collect()


def finetune(lm, train, val=None, *, steps: int = 200, batch_size: int = 16,
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
        >>> result = finetune(lm, train, val, steps=200, lora_rank=4)  # doctest: +SKIP
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
        trainable, frozen = count_params(lm)
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
    state_mb = 4 * (trainable + frozen + 3 * trainable) / 2**20
    return TrainResult(steps=steps, seconds=seconds, seconds_per_step=per_step,
                       trainable_params=trainable, total_params=trainable + frozen,
                       train_state_mb=state_mb, peak_rss_mb=memory.peak_mb,
                       history=recorder.history, warnings=messages)
