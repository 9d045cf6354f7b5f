"""Peak memory and step time of one training step of GPT-2 base: full fine-tuning vs LoRA.

The question behind it: does fine-tuning GPT-2 base (124 M parameters) fit in a ~2 GB Binder
session? Memory does not depend on the weights' values, so the weights are random (no
download): KerasHub's ``GPT2Backbone`` with the ``gpt2_base_en`` architecture (12 layers, 12
heads, 768 wide, 3072 MLP, 50,257-token vocabulary, 1,024 positions), batch 2 × 128 tokens,
AdamW. Each mode runs in its own process, so each peak RSS is that mode's alone.

Modes:
    full       every weight trainable (float32).
    lora       ``backbone.enable_lora(rank)``: base frozen (float32), rank-r adapters on query/value.
    lora-bf16  the same with the backbone built in bfloat16 (``dtype="bfloat16"``): frozen weights
               and activations take half the memory; Keras keeps the adapters in float32.
    lora-int8  the base weights quantized to int8 first (``model.quantize("int8")``), then LoRA
               adapters in float32 on top (the QLoRA idea, with Keras' own int8 quantization).

Adam's variables are created before the first step (``optimizer.build``), as
``ftlab.text.train.finetune`` does: created inside the first traced step, they make TensorFlow
trace it twice, which costs time and about 0.1 GiB of peak memory.

Usage::

    .venv/bin/python benchmarks/bench_gpt2_lora.py                 # all modes
    .venv/bin/python benchmarks/bench_gpt2_lora.py --modes lora --steps 5 --rank 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MODES = ("full", "lora", "lora-bf16", "lora-int8")
GPT2_BASE = {"vocabulary_size": 50257, "num_layers": 12, "num_heads": 12, "hidden_dim": 768,
             "intermediate_dim": 3072, "max_sequence_length": 1024}


def _rss_gib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def child(mode: str, steps: int, rank: int, batch: int, length: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import keras_hub
    import numpy as np

    after_import = _rss_gib()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GPT2Backbone(**GPT2_BASE, dtype="bfloat16" if mode == "lora-bf16" else None)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    if mode == "lora-int8":
        lm.quantize("int8")
    if mode.startswith("lora"):
        backbone.enable_lora(rank)
    after_build = _rss_gib()
    lm.compile(optimizer=keras.optimizers.AdamW(1e-4),
               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])
    lm.optimizer.build(lm.trainable_variables)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, GPT2_BASE["vocabulary_size"], size=(batch, length + 1)).astype("int32")
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones((batch, length), "int32")}
    y = tokens[:, 1:]
    durations, losses = [], []
    for _ in range(steps + 1):  # the first step traces the graph
        start = time.perf_counter()
        losses.append(float(lm.train_on_batch(x, y)))
        durations.append(time.perf_counter() - start)
    trainable = int(sum(np.prod(w.shape) for w in lm.trainable_weights))
    total = int(sum(np.prod(w.shape) for w in lm.weights))
    return {"mode": mode, "rank": rank if mode.startswith("lora") else None, "batch": batch, "length": length,
            "trainable_params": trainable, "total_params": total,
            "first_step_s": round(durations[0], 2), "seconds_per_step": round(float(np.median(durations[1:])), 3),
            "rss_after_import_gib": round(after_import, 2), "rss_after_build_gib": round(after_build, 2),
            "peak_rss_gib": round(_peak_rss_gib(), 2), "loss_finite": bool(np.isfinite(losses).all()),
            "trainable_dtypes": sorted({str(w.dtype) for w in lm.trainable_weights})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the first (default 3)")
    parser.add_argument("--rank", type=int, default=4, help="LoRA rank (default 4)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.rank, args.batch, args.length)), flush=True)
        return 0

    print(f"GPT-2 base architecture, random weights, batch {args.batch} × {args.length} tokens, AdamW, "
          f"{os.cpu_count()} CPU cores; one process per mode", flush=True)
    header = f"{'mode':<10} {'trainable':>12} {'s/step':>8} {'first step':>11} {'RSS built':>10} {'peak RSS':>9}"
    print(header)
    results = []
    for mode in args.modes:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(args.steps),
                               "--rank", str(args.rank), "--batch", str(args.batch), "--length", str(args.length)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{mode:<10} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{mode:<10} {r['trainable_params']:>12,} {r['seconds_per_step']:>8.2f} {r['first_step_s']:>10.1f}s "
              f"{r['rss_after_build_gib']:>8.2f} G {r['peak_rss_gib']:>7.2f} G", flush=True)
    fits = [r["mode"] for r in results if r["peak_rss_gib"] < 2.0]
    print(f"under 2 GiB peak RSS (a Binder session): {', '.join(fits) if fits else 'none'}")
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
