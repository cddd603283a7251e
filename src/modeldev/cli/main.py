"""The `modeldev` console script: train, tune, register, predict and manage jobs from a
terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Sequence

from modeldev import __version__
from modeldev.cli.jobs import add_jobs_parser
from modeldev.cli.predict import add_predict_parser, add_register_parser
from modeldev.cli.train import add_train_parser
from modeldev.cli.tune import add_tune_parser
from modeldev.errors import EXIT_BAD_INPUT, EXIT_FAILED, InputError, ModeldevError
from modeldev.events import Cancelled


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="modeldev", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modeldev {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_tune_parser(sub)
    add_jobs_parser(sub)
    add_register_parser(sub)
    add_predict_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand and map errors to exit codes and one clear line."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        return _fail(args, exc, EXIT_BAD_INPUT)
    except ModeldevError as exc:
        return _fail(args, exc, EXIT_FAILED)
    except Cancelled as exc:
        return _fail(args, exc, 128 + signal.SIGTERM)
    except Exception as exc:  # anything unexpected still gets one line (traceback with --debug)
        return _fail(args, exc, EXIT_FAILED)


def _fail(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    message = str(exc) if isinstance(exc, ModeldevError) else f"{type(exc).__name__}: {exc}"
    print(f"modeldev: error: {message}", file=sys.stderr)
    log = getattr(args, "session_log", None)
    if log is not None and code != EXIT_BAD_INPUT:  # bad input is one line; the rest has a log
        print(f"modeldev: details in {log}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
