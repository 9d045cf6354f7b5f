"""Lesson 04 figures: accuracy, training time and peak memory of each video method, and step costs.

Prints (never asserts) what ``notebooks/04_video_actions.ipynb`` relies on:

* per method (single frame, bag of frames, frozen features + temporal head, inflated top stage):
  validation accuracy, training seconds, peak RSS, trainable parameters, on the offline clips;
* ``--readout pool``: the inflated model with I3D's original readout (average over time), which
  stays near chance on these clips (why the lesson keeps the time axis to the end);
* ``--step-cost``: milliseconds per training step (batch 16) when inflating from block 16, 14 or 12,
  the reason the lesson inflates only the top stage on a CPU.

Usage::

    FTLAB_OFFLINE=1 python benchmarks/bench_video.py                 # full-size data (40 / 16 clips per class)
    FTLAB_OFFLINE=1 FTLAB_QUICK=1 python benchmarks/bench_video.py   # the lesson's quick mode
    FTLAB_OFFLINE=1 FTLAB_QUICK=1 python benchmarks/bench_video.py --readout pool --methods inflated
    FTLAB_OFFLINE=1 python benchmarks/bench_video.py --step-cost --methods
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def step_cost(backbone, frames: int, blocks=("block16", "block14", "block12"), steps: int = 4) -> None:
    import keras
    import numpy as np

    from ftlab.video import models

    print(f"\ntraining step cost, batch 16 clips × {frames} frames (ms per step, mean of {steps}):")
    for at in blocks:
        lower, upper = models.split_backbone(backbone, at)
        model = models.build_inflated_classifier(upper, frames, 6)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = np.random.default_rng(0).normal(size=(16 * steps, frames, *lower.output.shape[1:])).astype("float32")
        y = np.arange(len(x)) % 6
        model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)  # build and trace
        started = time.perf_counter()
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        ms = (time.perf_counter() - started) / steps * 1000
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"  inflate from {at}: maps {'×'.join(map(str, lower.output.shape[1:]))}, "
              f"{trainable:>9,} trainable, {ms:7.0f} ms/step")


def main() -> None:
    from ftlab import settings
    from ftlab.video import reader, synthetic, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--train-per-class", type=int, default=None, help="default 10 quick / 40 full")
    parser.add_argument("--val-per-class", type=int, default=None, help="default 6 quick / 16 full")
    parser.add_argument("--methods", nargs="*", default=list(train.METHODS), choices=train.METHODS)
    parser.add_argument("--readout", choices=("temporal", "pool"), default="temporal")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step-cost", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    settings.seed_everything(args.seed)
    train_dir = synthetic.synthetic_actions("train", args.train_per_class, size=args.size)
    val_dir = synthetic.synthetic_actions("val", args.val_per_class, size=args.size)
    generated = time.perf_counter() - started
    tr = reader.load_video_folder(train_dir, args.frames, args.size)
    va = reader.load_video_folder(val_dir, args.frames, args.size, class_names=tr.class_names)
    read = time.perf_counter() - started - generated
    backbone = train.default_backbone(args.size)
    features = train.prepare_clip_features(tr, va, backbone=backbone)
    print(f"mode: {'QUICK' if settings.is_quick() else 'FULL'}; {len(tr)} train / {len(va)} val clips, "
          f"{args.frames} frames of {args.size} px; data {generated:.1f} s (generate) + {read:.1f} s (read), "
          f"backbone pass {features.seconds:.1f} s")
    print(f"{features}")
    rows = {}
    for method in args.methods:
        result = train.finetune(method, features, epochs=args.epochs, seed=args.seed, readout=args.readout,
                                    keep_model=False)
        rows[method if method != "inflated" or args.readout == "temporal" else f"inflated ({args.readout})"] = result
    if rows:
        print()
        print(train.results_table(rows))
    if args.step_cost:
        step_cost(backbone, args.frames)
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(f"\ntotal {time.perf_counter() - started:.0f} s, process peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
