"""`modeldev predict` and `modeldev register`: the hand-off from a terminal."""

from __future__ import annotations

import argparse
from typing import Any

from modeldev.cli.common import common_options, emit_json


def add_predict_parser(sub: Any) -> None:
    """Register the `predict` subcommand."""
    p = sub.add_parser("predict", help="score a CSV or Parquet file with a registered model")
    p.add_argument("--model", default="champion",
                   help="models:/NAME@champion, models:/NAME/VERSION, runs:/RUN_ID/model, or "
                        "champion (default: the registered model the pipeline context names)")
    p.add_argument("--data", required=True, help="CSV or Parquet file of new rows")
    p.add_argument("--out", required=True, help="predictions.csv or predictions.parquet")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--keep", default="", metavar="COLUMNS",
                   help="comma-separated input columns copied beside the predictions (an id)")
    p.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                   help="rows read and scored at a time (default 50,000)")
    common_options(p)
    p.add_argument("--quiet", action="store_true", help="print only the result (no progress)")
    p.set_defaults(handler=run_predict_command)


def add_register_parser(sub: Any) -> None:
    """Register the `register` subcommand."""
    p = sub.add_parser("register", help="register a run's carried model as the champion")
    p.add_argument("--run", required=True, metavar="RUN_ID",
                   help="a tuning run (its carried model), a Phase 1 session (its winner) or "
                        "a framework run")
    p.add_argument("--name", help="registered model name (default: the experiment's name)")
    common_options(p)
    p.set_defaults(handler=run_register_command)


def run_predict_command(args: argparse.Namespace) -> int:
    """Score the file and print where the predictions went (one JSON object with --json)."""
    from modeldev.cli.terminal import session_log
    from modeldev.config import resolve_settings
    from modeldev.console import PredictProgress
    from modeldev.serving.predict import CHUNK_ROWS, PredictRequest, run_predict

    settings = resolve_settings(args.workspace)
    request = PredictRequest(model=args.model, data=args.data, out=args.out, proba=args.proba,
                             keep=tuple(k.strip() for k in args.keep.split(",") if k.strip()),
                             chunk_rows=args.chunk_rows or CHUNK_ROWS)
    with session_log(settings, "predict") as session:
        args.session_log = session.log_path
        progress = None if args.json or args.quiet else PredictProgress(session.terminal)
        try:
            result = run_predict(request, settings, on_progress=progress)
        finally:
            if progress is not None:
                progress.close()
    summary = result.summary()
    if args.json:
        emit_json(summary)
        return 0
    version = f" (version {summary['model_version']})" if summary["model_version"] else ""
    print(f"scored {summary['rows']:,} rows with {summary['model_uri']}{version} in "
          f"{summary['seconds']:.1f} s: {summary['output']}")
    if summary["ignored_columns"]:
        print(f"ignored columns the model does not take: {', '.join(summary['ignored_columns'])}")
    if summary["converted_columns"]:
        print(f"converted to the model's types: {', '.join(summary['converted_columns'])}")
    return 0


def run_register_command(args: argparse.Namespace) -> int:
    """Register the run's carried model, measure its serving card, print what was done."""
    from modeldev.config import resolve_settings
    from modeldev.serving.register import register_run
    from modeldev.tracking.tracker import Tracker

    settings = resolve_settings(args.workspace)
    done = register_run(Tracker(settings), settings, args.run, args.name)
    summary = done.summary()
    if args.json:
        emit_json(summary)
        return 0
    print(f"registered {summary['registered_model']} version {summary['model_version']} "
          f"({', '.join(summary['aliases'])}): {summary['model_uri']}")
    print(f"serve it: {summary['serve_command']}")
    print(f"serving card: {summary['serving_card']}")
    return 0
