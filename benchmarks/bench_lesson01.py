"""Benchmark lesson 01: notebook wall time and peak RSS, and the freeze panel's memory estimate.

Prints, from runs on this machine:
  1. wall time and peak RSS of executing notebooks/01_image_classification.ipynb offline, in quick
     mode (goal: ≤ 90 s) and in full mode (goals: < 8 min, < 2 GB peak RSS);
  2. ``--memory``: peak RSS of fine-tuning an EfficientNet-Lite0 classifier at batch 32 in fresh
     processes (frozen / top 5 blocks / everything, 96–224 px), next to what
     ``ftlab.widgets.CostModel`` estimates; these are the measurements the panel's formula was
     fitted to.

Run: `.venv/bin/python benchmarks/bench_lesson01.py [--mode quick|full|both] [--memory]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01_image_classification.ipynb"

_MEMORY_CHILD = r"""
import json, os, resource, sys
import keras
import numpy as np
from ftlab import freeze, widgets
from ftlab.models import backbones, heads
size, k, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
model = heads.build_classifier(backbones.build_backbone(image_size=size), 12)
groups = []
if k == "frozen":
    freeze.freeze_all(model)
else:
    groups = freeze.unfreeze_top(model, int(k)).groups
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
estimate = widgets.CostModel(model, by="block").estimate(groups, batch_size=batch).peak_memory_gb
x = np.random.default_rng(0).integers(0, 255, (batch * 4, size, size, 3)).astype("float32")
y = np.random.default_rng(1).integers(0, 12, batch * 4)
model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
print(json.dumps({"peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "estimate_gb": estimate}))
"""


_NOTEBOOK_CHILD = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "seconds": time.perf_counter() - start,
                  "peak_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
                  "stderr": done.stderr[-400:]}))
"""


def run_notebook(quick: bool) -> dict:
    """Execute the lesson with nbconvert (fresh cache): wall time and the kernel's peak RSS.

    A small wrapper process runs nbconvert, so ``RUSAGE_CHILDREN`` there covers this one run only.
    """
    env = dict(os.environ, FTLAB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env.pop("FTLAB_QUICK", None)
    if quick:
        env["FTLAB_QUICK"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        env["FTLAB_CACHE"] = str(Path(tmp) / "cache")
        command = [str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                   str(NOTEBOOK), "--output-dir", tmp, "--ExecutePreprocessor.timeout=1200"]
        done = subprocess.run([sys.executable, "-c", _NOTEBOOK_CHILD, *command], env=env, capture_output=True,
                              text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"mode": "quick" if quick else "full", "ok": figures["rc"] == 0, "seconds": round(figures["seconds"], 1),
            "peak_rss_gb": round(figures["peak_gb"], 2), "error": figures["stderr"] if figures["rc"] else ""}


def memory_calibration() -> list[dict]:
    rows = []
    env = dict(os.environ, FTLAB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    for size, k in ((96, "frozen"), (224, "frozen"), (96, "5"), (96, "100"), (160, "100"), (224, "100")):
        done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(size), k, "32"], env=env,
                              capture_output=True, text=True)
        line = [text for text in done.stdout.splitlines() if text.startswith("{")]
        figures = json.loads(line[-1]) if line else {}
        rows.append({"image_size": size, "unfrozen_blocks": k, **{key: round(v, 2) for key, v in figures.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["quick", "full", "both", "none"], default="both")
    parser.add_argument("--memory", action="store_true", help="also measure the panel's memory calibration")
    args = parser.parse_args()
    if args.mode in ("quick", "both"):
        print(json.dumps(run_notebook(quick=True)))
    if args.mode in ("full", "both"):
        print(json.dumps(run_notebook(quick=False)))
    if args.memory:
        for row in memory_calibration():
            print(json.dumps(row))


if __name__ == "__main__":
    main()
