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
import os
import sys

from ftlab.cli.common import add_json_flag, emit, require_at_least  # noqa: F401  (ftlab.cli.add_json_flag …)

# Topic modules that contribute sub-commands (import-light: no TensorFlow at import time).
COMMAND_MODULES = (
    "ftlab.cli.image",
    "ftlab.cli.text",
    "ftlab.cli.video",
)


class _Parser(argparse.ArgumentParser):
    """argparse with ftlab's error contract: a usage error is one line on stderr and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    import ftlab

    parser = _Parser(
        prog="ftlab",
        description="Transfer learning and fine-tuning from the command line (the ftlab course).",
    )
    parser.add_argument("--version", action="version", version=f"ftlab {ftlab.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ftlab`` console script. Returns the exit code."""
    from ftlab.errors import FtlabError
    from ftlab.settings import import_tensorflow

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a one-line usage error (exit code 2)
        return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 2
    try:
        import_tensorflow()
        result = args.handler(args)
    except FtlabError as error:
        return _fail(args.command, str(error))
    except OSError as error:  # a file or folder the handler did not expect to be unreadable
        where = error.filename or "a file"
        return _fail(args.command, f"{where}: {error.strerror or error}; check the path and its permissions")
    except KeyboardInterrupt:
        print(f"ftlab {args.command}: interrupted", file=sys.stderr)
        return 130
    if result is not None:
        emit(result, getattr(args, "json", False))
    return 0


def _fail(command: str, message: str) -> int:
    from ftlab.cli.common import ProgressBar

    ProgressBar.end_open_line()
    one_line = " ".join(message.split())
    print(f"ftlab {command}: error: {one_line}", file=sys.stderr)
    return 2
