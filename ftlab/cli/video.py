"""``ftlab finetune-video``: classify action clips from class folders with an image network.

Introduced in lesson 04. Import-light: TensorFlow loads inside the handler.

Examples::

    ftlab finetune-video --data clips/ --val-split 0.25 --method features --json
    ftlab finetune-video --data train/ --val val/ --frames 8 --size 112 --method inflated --epochs 10
"""

from __future__ import annotations

import sys
import time

from ftlab.errors import DataError

METHOD_CHOICES = ("features", "inflated", "single_frame", "bag_of_frames")


def register(subparsers) -> None:
    from ftlab.cli.common import add_json_flag

    p = subparsers.add_parser(
        "finetune-video", help="train an action classifier on folders of video clips (.mp4/.avi/.gif)",
        description="Read clips from one sub-folder per class (.mp4 .avi .mov .mkv .webm .gif; corrupt, empty "
                    "and too-short files are skipped and listed), sample --frames frames per clip, and train "
                    "on the bundled EfficientNet-Lite0: frozen per-frame features + a temporal head "
                    "(--method features) or its top stage inflated to 3-D and fine-tuned (--method inflated).")
    p.add_argument("--data", required=True, metavar="DIR", help="training clips, one sub-folder per class")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", metavar="DIR", help="validation clips, same class sub-folders")
    val.add_argument("--val-split", type=float, default=None, metavar="F",
                     help="hold out this fraction of each class of --data (default 0.25 when --val is not given)")
    p.add_argument("--frames", type=int, default=8, metavar="N", help="frames sampled evenly per clip (default 8)")
    p.add_argument("--size", type=int, default=112, metavar="PX", help="frame side in pixels (default 112)")
    p.add_argument("--method", choices=METHOD_CHOICES, default="features",
                   help="features (default), inflated, or a baseline: single_frame, bag_of_frames")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default per method)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    add_json_flag(p)
    p.set_defaults(handler=finetune_video_command)


def _say(args, text: str) -> None:
    """Progress on stderr (silent with --json)."""
    if not getattr(args, "json", False):
        print(text, file=sys.stderr, flush=True)


def finetune_video_command(args) -> dict:
    started = time.perf_counter()
    if args.frames < 2:
        raise DataError(f"--frames {args.frames}: a clip needs at least 2 frames to show motion")
    if args.epochs is not None and args.epochs < 1:
        raise DataError(f"--epochs {args.epochs}: must be at least 1; pass e.g. --epochs 10, or leave it out for the method's default")
    if args.size < 32:
        raise DataError(f"--size {args.size}: use at least 32 pixels (96–224 work well; 112 is the default)")
    from ftlab.video import reader

    train = reader.load_video_folder(args.data, num_frames=args.frames, size=args.size)
    if args.val:
        val = reader.load_video_folder(args.val, num_frames=args.frames, size=args.size,
                                       class_names=train.class_names)
    else:
        from ftlab.video.train import stratified_split

        fraction = 0.25 if args.val_split is None else args.val_split
        train_idx, val_idx = stratified_split(train.labels, fraction, seed=args.seed)
        train, val = train.subset(train_idx), train.subset(val_idx)
    skipped = list(dict.fromkeys(train.skipped + val.skipped))
    for path, reason in skipped:
        print(f"ftlab: skipped {path}: {reason}", file=sys.stderr, flush=True)
    _say(args, f"{len(train)} training and {len(val)} validation clips, {len(train.class_names)} classes, "
               f"{args.frames} frames of {args.size}×{args.size}")
    from ftlab import settings
    from ftlab.video import train as video_train

    settings.seed_everything(args.seed)
    features = video_train.prepare_clip_features(train, val, backbone=video_train.default_backbone(args.size))
    _say(args, f"backbone features in {features.seconds:.1f} s; training {args.method}")
    result = video_train.finetune(args.method, features, epochs=args.epochs, seed=args.seed, keep_model=False)
    return {
        "method": args.method,
        "accuracy": result.accuracy,
        "balanced_accuracy": result.balanced_accuracy,
        "per_class_recall": result.per_class_recall,
        "n_train": len(train),
        "n_val": len(val),
        "class_names": list(train.class_names),
        "skipped_files": [{"path": path, "reason": reason} for path, reason in skipped],
        "epochs": result.epochs,
        "train_seconds": result.seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "seconds": time.perf_counter() - started,
    }
