"""Image sub-commands of the ``ftlab`` CLI: ``predict``, ``finetune``, ``evaluate``.

Introduced in lesson 00 ("Your own photos"). Import-light: TensorFlow loads inside the handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ftlab.cli.common import ProgressBar, check_out, readable, skipped_rows
from ftlab.errors import DataError, ModelError


def register(subparsers) -> None:
    from ftlab.cli.common import add_json_flag

    p = subparsers.add_parser(
        "predict",
        help="top-k ImageNet classes of images (bundled EfficientNet-Lite0)",
        description="Print the ImageNet top-k classes of each image.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, ...)")
    p.add_argument("--top", type=int, default=5, help="how many classes per image (default 5)")
    add_json_flag(p)
    p.set_defaults(handler=predict_command)

    f = subparsers.add_parser(
        "finetune",
        help="fine-tune a pretrained backbone on a folder of class sub-folders",
        description="Phase 1 solves a softmax head on cached frozen features (L2 tuned); phase 2 "
        "fine-tunes the top blocks on random crops and is kept only if it beats the head. Every decision "
        "is taken on an inner split of the training data; --val / --val-split is only measured, at the end.",
    )
    f.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="folder with one sub-folder of images per class (with --metadata: the folder of images)",
    )
    f.add_argument(
        "--metadata",
        metavar="CSV",
        help="HAM10000-style labels: a CSV with image_id, dx and optional lesion_id columns; images are "
        "found under --data by file name, and no lesion is split between training and validation",
    )
    group = f.add_mutually_exclusive_group()
    group.add_argument(
        "--val",
        metavar="DIR",
        help="validation folder with the same class sub-folders (measured only, never used for a decision)",
    )
    group.add_argument(
        "--val-split",
        type=float,
        default=0.2,
        metavar="F",
        help="share of --data held out for validation, stratified (default 0.2; measured only)",
    )
    f.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        metavar="NAME",
        help="backbone name (default efficientnet_lite0, bundled; see `ftlab backbones`)",
    )
    f.add_argument("--size", type=int, default=224, metavar="PX", help="input size in pixels (default 224)")
    f.add_argument(
        "--epochs",
        type=int,
        default=6,
        metavar="N",
        help="max fine-tuning epochs of phase 2 (default 6, early stopping on the inner split; 0 = head only)",
    )
    f.add_argument(
        "--head-epochs",
        type=int,
        default=30,
        metavar="N",
        help="accepted for older scripts: the head is now solved to its optimum (L-BFGS), not trained by epochs",
    )
    f.add_argument(
        "--unfreeze", type=int, default=2, metavar="K", help="top blocks trained in phase 2 (default 2)"
    )
    f.add_argument(
        "--class-weight",
        choices=["none", "balanced"],
        default="none",
        help="weight classes by inverse frequency",
    )
    f.add_argument("--batch-size", type=int, default=32, metavar="N", help="batch size (default 32)")
    f.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    f.add_argument("--out", metavar="FILE", help="save the classifier here (.keras)")
    add_json_flag(f)
    f.set_defaults(handler=finetune_command)

    e = subparsers.add_parser(
        "evaluate", help="metrics of a saved classifier on a folder of class sub-folders"
    )
    e.add_argument(
        "--model", required=True, metavar="FILE", help="a .keras file written by `ftlab finetune --out`"
    )
    e.add_argument(
        "--data", required=True, metavar="DIR", help="folder with one sub-folder of images per class"
    )
    e.add_argument("--batch-size", type=int, default=32, metavar="N")
    add_json_flag(e)
    e.set_defaults(handler=evaluate_command)

    b = subparsers.add_parser("backbones", help="list the backbones ftlab can build")
    add_json_flag(b)
    b.set_defaults(handler=backbones_command)


def _check_backbone(name: str) -> None:
    from ftlab.models import backbones

    names = backbones.list_backbones()
    if name not in names:
        raise ModelError(f"unknown backbone {name!r}; choose one of: {', '.join(names)}")


MAX_SIDE = 1024
"""Largest ``--size``: the backbones were trained at 224 px and downsample by 32; past 1024 px a
frozen ImageNet backbone sees no more than noise while memory grows with the square of the side."""

TRAIN_BYTES_PER_PIXEL = 2900
"""Peak memory of full fine-tuning per input pixel of a batch: 4.6 GB for EfficientNetB0 at
224 px, batch 32 (DESIGN.md §2) is 4.6e9 / (32 × 224²) ≈ 2865 bytes."""


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _check_size_fits(size: int, batch_size: int) -> None:
    """Refuse a ``--size`` the backbone cannot use or a batch that cannot fit in this machine's memory."""
    if size > MAX_SIDE:
        raise DataError(
            f"--size {size} is too large: ftlab accepts at most {MAX_SIDE} px (the backbones were "
            f"trained at 224 px and memory grows with size²); pass e.g. --size 224 (the default)"
        )
    need = TRAIN_BYTES_PER_PIXEL * batch_size * size * size
    have = _physical_memory()
    if need > have:
        fit_batch = max(1, have // (TRAIN_BYTES_PER_PIXEL * size * size))
        raise DataError(
            f"--size {size} with --batch-size {batch_size} needs about {need / 1e9:.1f} GB to fine-tune, "
            f"more than this machine's {have / 1e9:.1f} GB: pass --batch-size {fit_batch} or a smaller "
            f"--size (e.g. 224)"
        )


def _check_finetune_numbers(args: argparse.Namespace) -> None:
    """Refuse impossible numbers before any data is read or any model is built."""
    from ftlab.cli.common import require_at_least
    from ftlab.data.images import MIN_SIDE

    require_at_least(
        "--size",
        args.size,
        MIN_SIDE,
        f"images are resized to --size × --size pixels and ftlab needs at least {MIN_SIDE}; "
        "pass e.g. --size 224 (the default)",
    )
    require_at_least("--batch-size", args.batch_size, 1, "pass e.g. --batch-size 32 (the default)")
    _check_size_fits(args.size, args.batch_size)
    require_at_least(
        "--epochs", args.epochs, 0, "pass 0 to train the head only, or e.g. --epochs 3 (the default)"
    )
    require_at_least("--head-epochs", args.head_epochs, 1, "pass e.g. --head-epochs 30 (the default)")
    require_at_least(
        "--unfreeze", args.unfreeze, 0, "pass 0 to train the head only, or e.g. --unfreeze 2 (the default)"
    )
    if not 0.0 < args.val_split < 1.0 and args.val is None:
        raise DataError(f"--val-split must be between 0 and 1, got {args.val_split}")


def _expand_image_arguments(arguments) -> tuple[list[str], list[dict]]:
    """Files to classify from ``predict``'s arguments: folders give their image files (not their
    sub-folders); what cannot be used is listed with its reason, and no file is used twice."""
    from ftlab.data.images import IMAGE_EXTENSIONS

    files, skipped, seen = [], [], set()

    def skip(path, reason):
        skipped.append({"path": str(path), "reason": reason})

    def add(path):
        try:
            real = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):
            skip(path, "symlink loop or broken link")
            return
        if real in seen:
            skip(path, f"same file as {real}, already classified")
            return
        seen.add(real)
        files.append(str(path))

    for argument in arguments:
        path = Path(argument)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError:
            is_dir = is_file = False
        if is_file:
            add(argument)
        elif is_dir:
            try:
                entries = sorted(path.iterdir())
            except OSError as error:
                skip(argument, f"cannot list the folder ({error.strerror or error})")
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    skip(entry, "a sub-folder (pass it as its own argument to classify its images)")
                elif entry.suffix.lower() not in IMAGE_EXTENSIONS:
                    skip(entry, f"not an image file (extension {entry.suffix.lower() or 'none'!r})")
                else:
                    add(entry)
        elif path.is_symlink():
            skip(argument, "symlink loop or broken link")
        else:
            skip(argument, "no such file; check the path")
    return files, skipped


def predict_command(args: argparse.Namespace) -> dict:
    from ftlab.cli.common import require_at_least
    from ftlab.data import images
    from ftlab.models import imagenet

    require_at_least("--top", args.top, 1, "pass e.g. --top 5 (the default)")
    files, skipped = _expand_image_arguments(args.images)
    # An unreadable image is skipped and reported, never fatal for the others.
    decoded = []
    for path in files:
        try:
            decoded.append((str(path), images.decode_image(path)))
        except DataError as error:
            skipped.append({"path": str(path), "reason": getattr(error, "reason", str(error))})
    if not decoded and not skipped:
        raise DataError(f"no image files in {', '.join(map(str, args.images))}: pass image files or folders of them")
    if not decoded:
        raise DataError(
            f"{skipped[0]['path']}: {skipped[0]['reason']}; none of the {len(skipped)} file(s) could be "
            "read as an image (JPEG, PNG, GIF, BMP, WebP or TIFF)"
        )
    bar = ProgressBar(not args.json)
    bar.message(f"classifying {len(decoded)} image(s) with efficientnet_lite0 (ImageNet)...")
    tops = imagenet.predict_imagenet([rgb for _, rgb in decoded], top=args.top)
    bar.done()
    results = [{"image": path, "top": top} for (path, _), top in zip(decoded, tops, strict=True)]
    if not args.json:
        for item in results:
            print(item["image"])
            for rank, guess in enumerate(item["top"], 1):
                print(f"  {rank}. {guess['name']:<30s} {guess['probability']:.3f}  (class {guess['index']})")
        for item in skipped:
            print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
        return None
    return {"predictions": results, "skipped_files": skipped}


def finetune_command(args: argparse.Namespace) -> dict:
    from ftlab import settings, train
    from ftlab.data import images

    start = time.perf_counter()
    _check_backbone(args.backbone)
    _check_finetune_numbers(args)
    if args.metadata and args.val is not None:
        raise DataError(
            "--val cannot be combined with --metadata; use --val-split (the split keeps lesions whole)"
        )
    check_out(args.out)
    settings.seed_everything(args.seed)
    bar = ProgressBar(not args.json)
    bar.message(f"reading {args.data} ...")
    with readable(data=args.data, val=args.val, metadata=args.metadata):
        if args.metadata:
            from ftlab.skin import ham10000

            data = ham10000.load_ham_folder(
                args.data,
                args.metadata,
                image_size=args.size,
                val_split=args.val_split,
                seed=args.seed,
                verbose=False,
            )
        else:
            data = images.load_image_folder(
                args.data,
                image_size=args.size,
                val_dir=args.val,
                val_split=args.val_split,
                batch_size=args.batch_size,
                seed=args.seed,
                verbose=False,
            )
    checkpoint_dir = Path(args.out).with_suffix(".resume") if args.out else None
    result = train.finetune(
        data.x_train,
        data.y_train,
        data.x_val,
        data.y_val,
        data.class_names,
        backbone=args.backbone,
        image_size=args.size,
        head_epochs=args.head_epochs,
        finetune_epochs=args.epochs,
        unfreeze=args.unfreeze,
        class_weight=None if args.class_weight == "none" else args.class_weight,
        batch_size=args.batch_size,
        checkpoint_dir=checkpoint_dir,
        progress=bar.as_callback() if bar.enabled else None,
        groups=data.train_lesions if args.metadata else None,
        seed=args.seed,
    )
    bar.done()
    output = result.summary()
    output.update(
        {
            "n_train": int(data.n_train),
            "n_val": int(data.n_val),
            "skipped_files": skipped_rows(data.skipped),
            "class_names": list(data.class_names),
            "seconds": round(time.perf_counter() - start, 2),
        }
    )
    if args.metadata:
        output["metadata_report"] = data.report.as_dict(examples=10)
    if args.out:
        output["model"] = str(train.save_model(result.model, args.out, result.config))
    return output


def evaluate_command(args: argparse.Namespace) -> dict:
    import numpy as np

    from ftlab import metrics, train
    from ftlab.cli.common import require_at_least
    from ftlab.data import images

    require_at_least("--batch-size", args.batch_size, 1, "pass e.g. --batch-size 32 (the default)")
    start = time.perf_counter()
    model, config = train.load_model(args.model)
    with readable(data=args.data):
        scan = images.scan_folder(args.data, min_classes=1)
    known = {name: i for i, name in enumerate(config["class_names"])}
    unknown = [name for name in scan.class_names if name not in known]
    if unknown:
        raise DataError(
            f"{args.data}: class folder(s) {unknown} are not classes of {args.model} "
            f"({', '.join(config['class_names'])}); rename or remove them"
        )
    size = int(config["image_size"])
    pixels, labels, skipped = [], [], list(scan.skipped)
    for path, label in scan.files:
        try:
            rgb = images.decode_image(path)
        except images.ImageDecodeError as error:
            skipped.append((path, error.reason))
            continue
        pixels.append(images.center_crop_resize(rgb, size))
        labels.append(known[scan.class_names[label]])
    if not pixels:
        raise DataError(f"{args.data}: no readable images to evaluate on")
    x, y = np.stack(pixels), np.array(labels, dtype=int)
    probs = model.predict(train.image_dataset(x, y, args.batch_size), verbose=0)
    report = metrics.classification_report(y, probs, config["class_names"])
    report.update(
        {
            "n_images": int(len(y)),
            "skipped_files": skipped_rows(skipped),
            "seconds": round(time.perf_counter() - start, 2),
        }
    )
    return report


def backbones_command(args: argparse.Namespace) -> dict:
    from ftlab.models import backbones

    rows = [{"name": name, **backbones.backbone_info(name)} for name in backbones.list_backbones()]
    if not args.json:
        for row in rows:
            tag = "bundled, works offline" if row.get("bundled") else "downloads ImageNet weights"
            print(f"{row['name']:<22s} {tag}")
        return None
    return {"backbones": rows}
