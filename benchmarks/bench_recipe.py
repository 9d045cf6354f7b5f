"""Benchmark the ``ftlab finetune`` recipe against a linear probe, on the course's real photos.

Issue 11. In one run, on the same train/test split of the 600 flower photos bundled with ftlab
(``ftlab.data.catsdogs.bundled_flowers()``, 5 classes, EfficientNet-Lite0 at 224 px):

  1. probe: scikit-learn ``LogisticRegression`` (default C=1, lbfgs to convergence) fitted on the
     frozen backbone's features of the training photos;
  2. recipe: ``ftlab.train.finetune`` (head solved on cached features with its L2 tuned on an inner
     split, then the top blocks fine-tuned and kept only if they beat the head on that split).

Both are scored on the test photos, which neither looked at. Prints a table, and with ``--json`` a
last line of JSON with ``probe_accuracy``, ``probe_seconds``, ``finetune_accuracy``,
``finetune_seconds``, ``head_accuracy`` (plus which phase was kept and why).

Run: ``FTLAB_OFFLINE=1 .venv/bin/python benchmarks/bench_recipe.py [--json] [--train-per-class 60]``.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-class", type=int, default=60)
    parser.add_argument("--test-per-class", type=int, default=60)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs (phase 2)")
    parser.add_argument("--unfreeze", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="phase 2 learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import ftlab
    from ftlab import features, metrics, train
    from ftlab.data import catsdogs
    from ftlab.models import backbones

    ftlab.settings.seed_everything(args.seed)
    data = catsdogs.bundled_flowers(args.train_per_class, args.test_per_class, image_size=args.size,
                                    seed=args.seed, verbose=False)
    base = backbones.build_backbone("efficientnet_lite0", image_size=args.size)
    start = time.perf_counter()
    f_train = features.extract_features(base, data.x_train)
    f_test = features.extract_features(base, data.x_val)
    feature_seconds = time.perf_counter() - start

    start = time.perf_counter()
    probe = LogisticRegression(max_iter=5000).fit(f_train, data.y_train)
    probe_accuracy = float(np.mean(probe.predict(f_test) == data.y_val))
    probe_seconds = time.perf_counter() - start + feature_seconds

    start = time.perf_counter()
    result = train.finetune(data.x_train, data.y_train, data.x_val, data.y_val, data.class_names,
                            backbone=base, image_size=args.size, finetune_epochs=args.epochs,
                            unfreeze=args.unfreeze, finetune_learning_rate=args.learning_rate, seed=args.seed)
    finetune_seconds = time.perf_counter() - start
    test = metrics.classification_report(
        data.y_val, result.model.predict(train.image_dataset(data.x_val, data.y_val), verbose=0), data.class_names
    )
    row = {
        "n_train": data.n_train,
        "n_test": data.n_val,
        "image_size": args.size,
        "probe_accuracy": round(probe_accuracy, 4),
        "probe_seconds": round(probe_seconds, 2),
        "head_accuracy": round(result.head_metrics["accuracy"], 4),
        "finetune_accuracy": round(test["accuracy"], 4),
        "finetune_seconds": round(finetune_seconds, 2),
        "kept": result.kept,
        "kept_reason": result.kept_reason,
        "head_C": result.selection["head_C"],
        "selection": {k: v for k, v in result.selection.items() if k != "head_trials"},
    }
    print(f"{data.n_train} train / {data.n_val} test photos, 5 classes, EfficientNet-Lite0 {args.size} px, "
          f"features {feature_seconds:.1f} s")
    print(f"{'method':<44s} {'test acc':>8s} {'seconds':>8s}")
    print(f"{'probe: sklearn LogisticRegression (C=1)':<44s} {probe_accuracy:8.4f} {probe_seconds:8.1f}")
    print(f"{'ftlab head (L-BFGS, C=' + str(result.selection['head_C']) + ')':<44s} "
          f"{result.head_metrics['accuracy']:8.4f} {'':>8s}")
    print(f"{'ftlab finetune (kept: ' + result.kept + ')':<44s} {test['accuracy']:8.4f} {finetune_seconds:8.1f}")
    print(f"kept: {result.kept_reason}")
    if args.json:
        print(json.dumps(row))
    return row


if __name__ == "__main__":
    main()
