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
    from ftlab.cli import add_json_flag

    f = subparsers.add_parser(
        "finetune-text", help="fine-tune a language model on a folder or file of .txt (full or LoRA)",
        description="Fine-tune the bundled tiny byte-level GPT (or GPT-2 base online) on your .txt files and "
                    "report perplexity on held-out documents before and after, and on general English "
                    "(how much it forgot).")
    f.add_argument("--corpus", required=True, metavar="PATH", help="a .txt file or a folder of .txt files (UTF-8)")
    f.add_argument("--val", metavar="PATH",
                   help="held-out .txt file or folder (default: hold out 10%% of --corpus documents)")
    f.add_argument("--model", default="tiny", metavar="NAME",
                   help="tiny (bundled, offline), gpt2_base_en (online), or a .keras file (default tiny)")
    f.add_argument("--lora", type=int, default=None, metavar="RANK",
                   help="train rank-RANK LoRA adapters instead of all weights")
    f.add_argument("--steps", type=int, default=200, metavar="N", help="optimizer steps (default 200)")
    f.add_argument("--batch-size", type=int, default=16, metavar="N", help="windows per step (default 16)")
    f.add_argument("--sequence-length", type=int, default=128, metavar="N", help="tokens per window (default 128)")
    f.add_argument("--learning-rate", type=float, default=1e-3, metavar="LR", help="peak learning rate (default 1e-3)")
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
    g.add_argument("--model", default="tiny", metavar="FILE",
                   help="a .keras file from `ftlab finetune-text --out`, tiny, or gpt2_base_en (default tiny)")
    g.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    g.add_argument("--max-length", type=int, default=128, metavar="N",
                   help="total length in tokens, prompt included (bytes for the tiny model; default 128)")
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


def _check_text_numbers(args) -> None:
    """Refuse numbers that cannot work, with the limit in the message, before loading anything."""
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
    if args.lora is not None and args.lora < 1:
        raise DataError(f"--lora must be a rank ≥ 1 (got {args.lora})")


def finetune_text_command(args) -> dict:
    from ftlab.cli_image import _check_out

    _check_text_numbers(args)
    _check_out(args.out)
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
    from ftlab.text import model as text_model
    from ftlab.text import train

    _say(args, f"corpus: {train_corpus.summary()}\nheld out: {val_corpus.summary()}\nloading model {args.model} …")
    lm = text_model.load_lm(args.model)
    if args.sequence_length > text_model.max_length_of(lm):
        raise DataError(f"--sequence-length {args.sequence_length} is longer than model {args.model} can read "
                        f"({text_model.max_length_of(lm)} tokens): use at most that")
    general_val = corpora.general_split()[1]
    window, limit = args.sequence_length, args.max_eval_windows

    def ppl(data):
        return train.perplexity(lm, data, sequence_length=window, max_windows=limit)

    before, general_before = ppl(val_corpus), ppl(general_val)
    _say(args, f"perplexity before: held-out {before:.2f}, general English {general_before:.2f}")

    def report(step, loss, val_ppl):
        _say(args, f"step {step}/{args.steps}: loss {loss:.3f}, held-out perplexity {val_ppl:.2f}")

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", train.SmallCorpusWarning)
        result = train.fine_tune(lm, train_corpus, val_corpus, steps=args.steps, batch_size=args.batch_size,
                                 sequence_length=window, learning_rate=args.learning_rate, lora_rank=args.lora,
                                 records=min(10, args.steps), max_val_windows=min(64, limit), seed=args.seed,
                                 on_record=report)
    for warning in caught:
        if issubclass(warning.category, train.SmallCorpusWarning):
            _warn(str(warning.message))
    after, general_after = ppl(val_corpus), ppl(general_val)
    seconds = time.perf_counter() - start
    if not all(math.isfinite(v) for v in (after, general_after)):
        raise ModelError(f"training diverged (held-out perplexity {after}): lower --learning-rate (now "
                         f"{args.learning_rate:g}); nothing was saved")
    output = {
        "model": args.model,
        "lora_rank": args.lora,
        "steps": result.steps,
        "train_documents": len(train_corpus),
        "val_documents": len(val_corpus),
        "perplexity_before": before,
        "perplexity_after": after,
        "general_perplexity_before": general_before,
        "general_perplexity_after": general_after,
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
