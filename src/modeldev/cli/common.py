"""What every `modeldev` command shares: options, the data-source options, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from modeldev.config import Limits
from modeldev.data.loading import Source, load_source
from modeldev.data.split import AUTO_FOLDS, AUTO_MAX_ROWS, AUTO_REPEATS
from modeldev.events import EventSink, discard


def common_options(p: argparse.ArgumentParser) -> None:
    """Options every command shares."""
    p.add_argument("--workspace", help="folder for the MLflow store, artifacts and jobs "
                   "(env MODELDEV_WORKSPACE; default ./modeldev_workspace)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def session_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that run a session (train, tune)."""
    p.add_argument("--quiet", action="store_true", help="print only the result (no progress)")


def data_source_options(p: argparse.ArgumentParser, required: bool) -> None:
    """--data | --demo | --context, with --target and --task."""
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--data", help="CSV or Parquet file")
    src.add_argument("--demo", help="built-in dataset: breast_cancer, wine or diabetes")
    src.add_argument("--context", help="pipeline_context.json naming the feature data")
    p.add_argument("--target", help="target column (required with --data)")
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])


def source_from_args(args: argparse.Namespace, limits: Limits | None = None) -> Source | None:
    """The table the data-source options name (caps checked before reading), or None."""
    if not (args.data or args.demo or args.context):
        return None
    return load_source(args.data, args.demo, args.context, args.target, limits)


def emit_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def cv_folds(text: str) -> int | None:
    """--cv's value: a number of folds, 0 for one holdout split, or 'auto' (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of folds, 0 or 'auto', not {text!r}") from None


def repeats(text: str) -> int | None:
    """--repeats' value: how many times the K-fold cut is made, or 'auto' (None)."""
    return cv_folds(text)


def evaluation_options(p: argparse.ArgumentParser, direct_only: bool = False) -> None:
    """--cv and --repeats: how the development rows are resampled (`direct_only`: for a table
    tuned directly; a tuning of a Phase 1 session uses the session's folds)."""
    cv_scope = "a table tuned directly (a session is tuned on its own folds): " if direct_only \
        else ""
    p.add_argument("--cv", type=cv_folds, default=None, metavar="K",
                   help=f"{cv_scope}cross-validation folds; 0: one holdout split (default: "
                        f"{AUTO_FOLDS} up to {AUTO_MAX_ROWS:,} rows, holdout above)")
    p.add_argument("--repeats", type=repeats, default=None, metavar="R",
                   help=("a table tuned directly: " if direct_only else "")
                   + "make the K-fold cut R times (R x K fold scores: more power to tell models "
                     f"apart, R times the fits; default: {AUTO_REPEATS} with folds)")
    p.add_argument("--threshold", default=None, metavar="auto|tuned|CUT",
                   help="binary tasks: the decision threshold, tuned out of fold per model "
                        "(auto: when the minority class is under 30 %%) or fixed")
    p.add_argument("--calibrate", default=None, choices=["none", "sigmoid", "isotonic"],
                   help="calibrate the probabilities out of fold (default: none)")
    p.add_argument("--class-weight", default=None, choices=["none", "balanced"],
                   help="weight the classes in every fit (default: none)")


def threshold_option(text: str | None) -> str | float | None:
    """--threshold's value checked (auto, tuned or a cut in (0, 1)); None when not given."""
    if text is None:
        return None
    from modeldev.evaluation.thresholds import parse_threshold

    return parse_threshold(text)


def progress_display(args: argparse.Namespace, make: Callable[[], AbstractContextManager[EventSink]]
                     ) -> AbstractContextManager[EventSink]:
    """The progress printer `make()` builds, or none with --json or --quiet."""
    if args.json or args.quiet:
        return contextlib.nullcontext(discard)
    return make()
