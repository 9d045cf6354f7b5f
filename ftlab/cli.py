"""The ``ftlab`` command line (also ``python -m ftlab``).

Every sub-command takes ``--json``: then the last line of stdout is one JSON object, and the
progress bar on stderr is silenced. Bad input ends with exit code 2 and one line on stderr that
names the problem and the fix, never a traceback.

Sub-commands live in topic modules; each has ``register(subparsers)`` that adds its parsers and
sets ``handler`` (a function of the parsed args returning a JSON-able dict).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

# Topic modules that contribute sub-commands (import-light: no TensorFlow at import time).
COMMAND_MODULES = (
    "ftlab.cli_image",
    "ftlab.text.cli",
    "ftlab.video.cli",
)


def build_parser() -> argparse.ArgumentParser:
    import ftlab

    parser = argparse.ArgumentParser(
        prog="ftlab",
        description="Transfer learning and fine-tuning from the command line (the ftlab course).",
    )
    parser.add_argument("--version", action="version", version=f"ftlab {ftlab.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Every sub-command gets ``--json`` (one JSON object as the last line of stdout)."""
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object as the last line of stdout, no progress bar")


def emit(result: dict, as_json: bool) -> None:
    """Print a command's result: one JSON line, or a readable ``key: value`` list."""
    if as_json:
        print(json.dumps(result, default=_jsonable))
        return
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=_jsonable)
        print(f"{key}: {value}")


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    return str(value)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ftlab`` console script. Returns the exit code."""
    from ftlab.errors import FtlabError
    from ftlab.settings import import_tensorflow

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import_tensorflow()
        result = args.handler(args)
    except FtlabError as error:
        from ftlab.cli_image import ProgressBar

        ProgressBar.end_open_line()
        print(f"ftlab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ftlab {args.command}: interrupted", file=sys.stderr)
        return 130
    if result is not None:
        emit(result, getattr(args, "json", False))
    return 0
