"""Text sub-commands of the ``ftlab`` CLI: ``finetune-text`` and ``generate``.

Introduced in lesson 03. Import-light: TensorFlow and KerasHub load inside the handlers.

Examples::

    ftlab finetune-text --corpus my_contracts/ --lora 4 --steps 300 --out legal.keras --json
    ftlab generate --model legal.keras --prompt "The Licensee shall" --temperature 0.8 --top-p 0.9
"""

from __future__ import annotations

import math
import sys
import time
import warnings

from ftlab.errors import DataError, ModelError


def register(subparsers) -> None:
    from ftlab.cli.common import add_json_flag

    f = subparsers.add_parser(
        "finetune-text", help="fine-tune a language model on a folder or file of .txt (full or LoRA)",
        description="Fine-tune SmolLM2-135M (installed with the course; LoRA rank 4 by default), the tiny "
                    "byte-level GPT, or GPT-2 base (online) on your .txt files, and report perplexity and bits "
                    "per byte on held-out documents before and after, on general English (how much it "
                    "forgot), and a sample of what the model writes before and after.")
    f.add_argument("--corpus", required=True, metavar="PATH", help="a .txt file or a folder of .txt files (UTF-8)")
    f.add_argument("--val", metavar="PATH",
                   help="held-out .txt file or folder (default: hold out 10%% of --corpus documents)")
    f.add_argument("--model", default="smollm2", metavar="NAME",
                   help="smollm2 (SmolLM2-135M, installed with the course), tiny (bundled 0.86 M byte-level "
                        "GPT), gpt2_base_en (online), or a .keras file (default smollm2)")
    f.add_argument("--lora", type=int, default=None, metavar="RANK",
                   help="train rank-RANK LoRA adapters instead of all weights; 0 trains all weights "
                        "(default: 4 for smollm2 and gpt2_base_en, 0 for tiny)")
    f.add_argument("--steps", type=int, default=200, metavar="N", help="optimizer steps (default 200)")
    f.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="windows per step (default 16 for tiny, 4 otherwise)")
    f.add_argument("--sequence-length", type=int, default=128, metavar="N", help="tokens per window (default 128)")
    f.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                   help="peak learning rate (default 1e-3 for tiny, 2e-3 for LoRA, 1e-4 for all weights)")
    f.add_argument("--max-eval-windows", type=int, default=256, metavar="N",
                   help="evaluate perplexity on at most N windows per corpus (default 256)")
    f.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    f.add_argument("--out", metavar="FILE", help="save the fine-tuned model here (.keras)")
    add_json_flag(f)
    f.set_defaults(handler=finetune_text_command)

    g = subparsers.add_parser(
        "generate", help="continue a prompt with a language model",
        description="Continue a prompt. Temperature 0 is greedy (deterministic); otherwise tokens are sampled, "
                    "optionally among the top-k most likely or the top-p nucleus.")
    g.add_argument("--model", default="smollm2", metavar="FILE",
                   help="a .keras file from `ftlab finetune-text --out`, smollm2, tiny, or gpt2_base_en "
                        "(default smollm2)")
    g.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    g.add_argument("--max-length", type=int, default=64, metavar="N",
                   help="total length in tokens, prompt included (bytes for the tiny model; default 64)")
    g.add_argument("--temperature", type=float, default=1.0, metavar="T", help="0 = greedy (default 1.0)")
    g.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely tokens")
    g.add_argument("--top-p", type=float, default=None, metavar="P", help="sample from the top-P probability mass")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    add_json_flag(g)
    g.set_defaults(handler=generate_command)


def _say(args, text: str) -> None:
    """Progress on stderr (silent with --json)."""
    if not getattr(args, "json", False):
        print(text, file=sys.stderr, flush=True)


def _warn(text: str) -> None:
    print(f"ftlab: warning: {text}", file=sys.stderr, flush=True)


def _load_corpus(path: str, role: str):
    from ftlab.text import corpora

    corpus = corpora.load_text_corpus(path)
    if corpus.replaced:
        shown = ", ".join(corpus.replaced[:5]) + (" …" if len(corpus.replaced) > 5 else "")
        _warn(f"{role} {path}: {len(corpus.replaced)} file(s) are not valid UTF-8 and were decoded with "
              f"replacement characters (U+FFFD): {shown}")
    if corpus.skipped:
        _warn(f"{role} {path}: {len(corpus.skipped)} empty file(s) skipped")
    if corpus.not_text:
        shown = ", ".join(corpus.not_text[:5]) + (" …" if len(corpus.not_text) > 5 else "")
        _warn(f"{role} {path}: {len(corpus.not_text)} file(s) do not look like text (many NUL or control "
              f"characters: a binary file, or UTF-16/32 saved without a byte-order mark): {shown}; "
              "re-save them as UTF-8 or leave them out")
    return corpus


# Bounds of finetune-text's numbers: past these a run fails deep inside TensorFlow, or never ends.
MAX_SEQUENCE_LENGTH = 4096
MAX_BATCH_SIZE = 1024
MAX_EVAL_WINDOWS = 100_000


def _resolve_defaults(args) -> None:
    """Fill the defaults that depend on the model: SmolLM2 and GPT-2 train LoRA adapters at batch 4."""
    tiny = args.model == "tiny"
    if args.lora is None:
        args.lora = 0 if tiny else 4
    if args.batch_size is None:
        args.batch_size = 16 if tiny else 4
    if args.learning_rate is None:
        args.learning_rate = 1e-3 if tiny else (2e-3 if args.lora else 1e-4)


def _check_text_numbers(args) -> None:
    """Refuse numbers that cannot work, with the limit in the message, before loading anything."""
    _resolve_defaults(args)
    checks = [("--steps", args.steps, 1, None), ("--batch-size", args.batch_size, 1, MAX_BATCH_SIZE),
              ("--sequence-length", args.sequence_length, 2, MAX_SEQUENCE_LENGTH),
              ("--max-eval-windows", args.max_eval_windows, 1, MAX_EVAL_WINDOWS)]
    for flag, value, low, high in checks:
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high:,}" if high is not None else f"at least {low}"
            raise DataError(f"{flag} must be {bound} (got {value})")
    rate = args.learning_rate
    if not (math.isfinite(rate) and 0 < rate <= 1):
        raise DataError(f"--learning-rate must be a number above 0 and at most 1, e.g. 1e-3 (got {rate})")
    if args.lora < 0:
        raise DataError(f"--lora must be a rank ≥ 1, or 0 to train all weights (got {args.lora})")


#: Tokens of the greedy ``sample`` finetune-text writes before and after training.
SAMPLE_TOKENS = 24


def _sample_prompt(corpus) -> str:
    """The first words (up to 60 characters, whole words) of the first held-out document."""
    text = " ".join(corpus.texts[0].split()) if corpus.texts else ""
    words, prompt = text.split(" "), ""
    for word in words:
        if prompt and len(prompt) + 1 + len(word) > 60:
            break
        prompt = f"{prompt} {word}".strip()
    return prompt[:60] or "The"


def finetune_text_command(args) -> dict:
    from ftlab.cli.common import check_out

    _check_text_numbers(args)
    check_out(args.out)
    from ftlab.text import corpora

    corpus = _load_corpus(args.corpus, "--corpus")
    if args.val:
        train_corpus, val_corpus = corpus, _load_corpus(args.val, "--val")
    else:
        if len(corpus) < 2:
            raise DataError(f"--corpus {args.corpus} holds 1 document, which cannot be split by document: "
                            "add .txt files or pass held-out text with --val")
        train_corpus, val_corpus = corpora.split_by_document(corpus, 0.1, seed=0)

    from ftlab.settings import seed_everything

    seed_everything(args.seed)
    from ftlab.text import generate, train
    from ftlab.text import model as text_model

    _say(args, f"corpus: {train_corpus.summary()}\nheld out: {val_corpus.summary()}\nloading model {args.model} …")
    # LoRA adapters are float32 whatever the model's dtype, so SmolLM2's frozen weights can be
    # bfloat16 (half the memory, and faster on CPUs with bfloat16 instructions). Training all
    # weights needs float32: Adam's small steps vanish when added to bfloat16 weights.
    dtype = "bfloat16" if args.lora and args.model == "smollm2" else None
    lm = text_model.load_lm(args.model, dtype=dtype)
    if args.sequence_length > text_model.max_length_of(lm):
        raise DataError(f"--sequence-length {args.sequence_length} is longer than model {args.model} can read "
                        f"({text_model.max_length_of(lm)} tokens): use at most that")
    general_val = corpora.general_split()[1]
    window, limit = args.sequence_length, args.max_eval_windows

    def scores(data):
        return train.scores(lm, data, sequence_length=window, max_windows=limit)

    prompt = _sample_prompt(val_corpus)
    sample_length = len(train.encode_text(text_model.tokenizer_of(lm), prompt)) + 1 + SAMPLE_TOKENS  # + start

    def sample():
        return generate.generate(lm, prompt, max_length=sample_length, temperature=0)

    before, general_before, sample_before = scores(val_corpus), scores(general_val), sample()
    _say(args, f"before: held-out perplexity {before['perplexity']:.2f} ({before['bits_per_byte']:.2f} bits per "
               f"byte), general English {general_before['perplexity']:.2f}\nsample before: {sample_before!r}")

    def report(step, loss, val_ppl):
        _say(args, f"step {step}/{args.steps}: loss {loss:.3f}, held-out perplexity {val_ppl:.2f}")

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", train.SmallCorpusWarning)
        result = train.finetune(lm, train_corpus, val_corpus, steps=args.steps, batch_size=args.batch_size,
                                 sequence_length=window, learning_rate=args.learning_rate,
                                 lora_rank=args.lora or None,
                                 records=min(10, args.steps), max_val_windows=min(64, limit), seed=args.seed,
                                 on_record=report)
    for warning in caught:
        if issubclass(warning.category, train.SmallCorpusWarning):
            _warn(str(warning.message))
    after, general_after = scores(val_corpus), scores(general_val)
    seconds = time.perf_counter() - start
    if not all(math.isfinite(v) for v in (*after.values(), *general_after.values())):
        raise ModelError(f"training diverged (held-out perplexity {after['perplexity']}): lower --learning-rate "
                         f"(now {args.learning_rate:g}); nothing was saved")
    output = {
        "model": args.model,
        "dtype": dtype or "float32",
        "lora_rank": args.lora or None,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "steps": result.steps,
        "train_documents": len(train_corpus),
        "val_documents": len(val_corpus),
        "perplexity_before": before["perplexity"],
        "perplexity_after": after["perplexity"],
        "bits_per_byte_before": before["bits_per_byte"],
        "bits_per_byte_after": after["bits_per_byte"],
        "general_perplexity_before": general_before["perplexity"],
        "general_perplexity_after": general_after["perplexity"],
        "general_bits_per_byte_before": general_before["bits_per_byte"],
        "general_bits_per_byte_after": general_after["bits_per_byte"],
        "sample_prompt": prompt,
        "sample_before": sample_before,
        "sample": sample(),
        "trainable_params": result.trainable_params,
        "total_params": result.total_params,
        "seconds": seconds,
        "seconds_per_step": result.seconds_per_step,
        "peak_rss_mb": result.peak_rss_mb,
        "replaced_files": len(corpus.replaced),
        "warnings": result.warnings,
    }
    if args.out:
        output["out"] = str(text_model.save_lm(lm, args.out))
    return output


def generate_command(args) -> dict:
    if not args.prompt.strip():
        raise DataError("--prompt is empty: give some text to continue, e.g. --prompt 'The licensee shall'")
    from ftlab.text import generate
    from ftlab.text import model as text_model

    lm = text_model.load_lm(args.model)
    text = generate.generate(lm, args.prompt, max_length=args.max_length, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    if not args.json:
        print(text)
        return None
    return {"model": args.model, "prompt": args.prompt, "text": text, "max_length": args.max_length,
            "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p, "seed": args.seed}
