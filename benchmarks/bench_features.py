"""Benchmark: cached features vs recomputing the frozen backbone, and `ftlab finetune` on 200 photos.

Prints, from one run on this machine:
  1. seconds per epoch of head training on cached features vs a frozen backbone recomputed every
     step (goal: cached ≥ 20× faster), and their ratio;
  2. wall time and peak RSS of `ftlab finetune` on 200 real-looking photos at 224 px
     (goals: < 3 minutes, < 2 GB peak RSS like a Binder session).

Run: `make benchmark` or `.venv/bin/python benchmarks/bench_features.py [--images 200]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("FTLAB_OFFLINE", "1")


def write_photos(root: Path, n_images: int, size: int = 320, seed: int = 0) -> Path:
    """Random crops, flips and colour shifts of scikit-image's real photos, 4 classes."""
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = {"cat": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut(), "rocket": data.rocket()}
    for i in range(n_images):
        name = list(sources)[i % len(sources)]
        photo = sources[name]
        h, w = photo.shape[:2]
        crop = int(min(h, w) * rng.uniform(0.5, 1.0))
        top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        patch = photo[top:top + crop, left:left + crop].astype(np.float32) * rng.uniform(0.8, 1.2)
        image = Image.fromarray(np.clip(patch, 0, 255).astype(np.uint8)).resize((size, size))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        (root / name).mkdir(parents=True, exist_ok=True)
        image.save(root / name / f"{i:04d}.jpg", quality=88)
    return root


def bench_cached_vs_recomputed(n_images: int, image_size: int = 224, batch_size: int = 32) -> dict:
    import keras

    from ftlab import features
    from ftlab.models import backbones, heads

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n_images, image_size, image_size, 3), dtype=np.uint8)
    y = rng.integers(0, 2, n_images)
    backbone = backbones.build_backbone("efficientnet_lite0", image_size=image_size)
    backbone.trainable = False

    model = heads.build_classifier(backbone, 2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    # One untimed epoch traces the step for full batches and for the smaller last batch alike, so the
    # timed epoch below pays for computing only, as the cached head's timed epochs do.
    model.fit(x.astype("float32"), y, batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x.astype("float32"), y, batch_size=batch_size, epochs=1, verbose=0)
    recomputed = time.perf_counter() - start

    start = time.perf_counter()
    feats = features.extract_features(backbone, x, batch_size=batch_size, cache=False)
    extract_once = time.perf_counter() - start
    head = heads.build_head(feats.shape[-1], 2)
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    head.fit(feats, y, batch_size=batch_size, epochs=1, verbose=0)  # trace once
    epochs = 20
    start = time.perf_counter()
    head.fit(feats, y, batch_size=batch_size, epochs=epochs, verbose=0)
    cached = (time.perf_counter() - start) / epochs
    return {"images": n_images, "image_size": image_size, "recomputed_s_per_epoch": recomputed,
            "cached_s_per_epoch": cached, "one_time_feature_extraction_s": extract_once,
            "speedup": recomputed / cached}


def bench_finetune_cli(n_images: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photos(Path(tmp) / "photos", n_images)
        env = {**os.environ, "FTLAB_CACHE": str(Path(tmp) / "cache")}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "ftlab", "finetune", "--data", str(folder), "--size", "224",
                               "--json"], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"ftlab finetune failed:\n{proc.stderr}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"images": n_images, "wall_s": wall, "peak_rss_gib": peak_kib / 2**20, "accuracy": result["accuracy"],
            "head_accuracy": result["head_accuracy"], "kept": result["kept"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores")
    cli = bench_finetune_cli(args.images)
    print(f"ftlab finetune, {cli['images']} photos at 224 px: {cli['wall_s']:.1f} s wall, "
          f"peak RSS {cli['peak_rss_gib']:.2f} GiB (goals: < 180 s, < 2 GiB); "
          f"accuracy {cli['accuracy']:.3f} (head only {cli['head_accuracy']:.3f}, kept {cli['kept']})")
    speed = bench_cached_vs_recomputed(args.images)
    print(f"head training, {speed['images']} images at {speed['image_size']} px, one epoch: "
          f"frozen backbone recomputed {speed['recomputed_s_per_epoch']:.2f} s vs cached features "
          f"{speed['cached_s_per_epoch'] * 1000:.1f} ms -> {speed['speedup']:.0f}x faster (goal >= 20x); "
          f"features computed once in {speed['one_time_feature_extraction_s']:.2f} s")


if __name__ == "__main__":
    main()
