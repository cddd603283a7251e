"""The `modeldev` console script: train, tune, bundle and manage jobs from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from modeldev import __version__
from modeldev.errors import AllFailedError, InputError, ModeldevError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="modeldev", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modeldev {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from modeldev.cli_jobs import add_jobs_parser
    from modeldev.cli_train import add_train_parser
    from modeldev.cli_tune import add_tune_parser

    add_train_parser(sub)
    add_tune_parser(sub)
    add_jobs_parser(sub)
    return parser


def common_options(p: argparse.ArgumentParser) -> None:
    """Options every command shares."""
    p.add_argument("--workspace", help="folder for the MLflow store, artifacts and jobs "
                   "(env MODELDEV_WORKSPACE; default ./modeldev_workspace)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def install_stop_handlers() -> Callable[[], bool]:
    """SIGTERM/SIGINT stop the session cleanly (runs end KILLED); returns the stop flag."""
    from modeldev.events import Cancelled

    state = {"stop": False}

    def handler(signum: int, _frame: object) -> None:
        state["stop"] = True
        raise Cancelled(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: state["stop"]


def emit_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand and map errors to exit codes and one clear line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from modeldev.events import Cancelled

    try:
        return int(args.handler(args))
    except InputError as exc:
        return _fail(args, exc, EXIT_BAD_INPUT)
    except (AllFailedError, ModeldevError) as exc:
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
    return code


if __name__ == "__main__":
    sys.exit(main())
