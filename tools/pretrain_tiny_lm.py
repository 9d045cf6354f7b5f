"""Pretrain ftlab's tiny byte-level GPT on general English and write it to ftlab/assets/tiny_lm/.

The corpus is the standard library's ``pydoc_data`` topics (the Python documentation that every
install carries), split by document exactly as ``ftlab.text.corpora.general_split()`` does; the
held-out topics are never trained on. The architecture is ``ftlab.text.model.TINY_CONFIG``
(KerasHub's GPT2Backbone at a small size, byte-level tokenizer).

Reproduce (about 10 minutes on 2 CPU cores)::

    .venv/bin/python tools/pretrain_tiny_lm.py
    .venv/bin/python tools/pretrain_tiny_lm.py --steps 200 --out /tmp/tiny_lm   # a quick trial

Results are only bit-identical on the same hardware and library versions (TensorFlow's CPU
kernels are not deterministic across machines); the run time, losses and versions are recorded
in ``config.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per step (default 8)")
    parser.add_argument("--sequence-length", type=int, default=256, help="bytes per window (default 256)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="output folder (default ftlab/assets/tiny_lm)")
    args = parser.parse_args(argv)

    import keras
    import keras_hub
    import tensorflow as tf

    from ftlab.text import corpora, model, train

    keras.utils.set_random_seed(args.seed)
    general_train, general_val = corpora.general_split()
    legal = corpora.license_corpus()
    print(f"train: {general_train.summary()}\nval:   {general_val.summary()}", flush=True)

    lm = model.build_tiny_lm()
    print(f"model: {model.TINY_CONFIG}, {lm.count_params():,} parameters", flush=True)
    start = time.time()

    def report(step, loss, val_ppl):
        print(f"step {step:5d}  train loss {loss:.3f} nats/byte  val perplexity {val_ppl:.2f}  "
              f"({time.time() - start:.0f} s)", flush=True)

    result = train.finetune(lm, general_train, general_val, steps=args.steps, batch_size=args.batch_size,
                             sequence_length=args.sequence_length, learning_rate=args.learning_rate,
                             records=15, max_val_windows=128, seed=args.seed, on_record=report)
    seconds = time.time() - start
    val_ppl = train.perplexity(lm, general_val, sequence_length=128)
    legal_ppl = train.perplexity(lm, legal, sequence_length=128, max_windows=256)
    info = {
        "trained_on": "pydoc_data.topics (Python standard library), train split of ftlab.text.corpora.general_split()",
        "train_chars": general_train.n_chars,
        "steps": result.steps,
        "batch_size": args.batch_size,
        "sequence_length": args.sequence_length,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "final_train_loss_nats_per_byte": round(result.history["loss"][-1], 4),
        "general_val_perplexity_128": round(val_ppl, 3),
        "legal_perplexity_128_before_finetuning": round(legal_ppl, 3),
        "seconds": round(seconds, 1),
        "seconds_per_step": round(result.seconds_per_step, 4),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "keras_hub": keras_hub.__version__},
        "command": "python tools/pretrain_tiny_lm.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    folder = model.save_tiny_lm(lm, args.out or model.ASSET_DIR, info)
    size = (folder / model.WEIGHTS_NAME).stat().st_size
    print(f"done in {seconds:.0f} s: final train loss {info['final_train_loss_nats_per_byte']} nats/byte, "
          f"general val perplexity {val_ppl:.2f}, legal perplexity {legal_ppl:.2f}; "
          f"wrote {folder} ({size / 2**20:.1f} MiB of weights)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
