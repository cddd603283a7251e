"""`modeldev train`: Phase 1 from the terminal."""

from __future__ import annotations

import argparse
from typing import Any

from modeldev.cli.common import common_options, data_source_options, emit_json, session_options


def add_train_parser(sub: Any) -> None:
    """Register the `train` subcommand."""
    p = sub.add_parser("train", help="Phase 1: baselines of every framework")
    data_source_options(p, required=True)
    p.add_argument("--frameworks", help="comma-separated framework names (default: all)")
    p.add_argument("--primary-metric", help="default f1_score (classification), rmse (regression)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--experiment", help="MLflow experiment (default {project}_model)")
    p.add_argument("--project", help="project name for the default experiment")
    common_options(p)
    session_options(p)
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run Phase 1 and print the result (a table, or one JSON object with --json)."""
    # The engine is imported here, not at the top: `modeldev --help` stays instant.
    from modeldev.cli.common import progress_display, source_from_args
    from modeldev.cli.terminal import session_log
    from modeldev.config import resolve_settings
    from modeldev.console import ProgressPrinter
    from modeldev.events import install_stop_handlers
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    should_stop = install_stop_handlers()
    settings = resolve_settings(args.workspace)
    source = source_from_args(args)
    assert source is not None  # the parser requires one of --data, --demo, --context
    request = TrainRequest(
        source=source, target=args.target, task=args.task,
        frameworks=[f.strip() for f in args.frameworks.split(",")] if args.frameworks else None,
        primary_metric=args.primary_metric, seed=args.seed, device=args.device,
        experiment=args.experiment, project=args.project)
    with session_log(settings, "train") as session:
        args.session_log = session.log_path
        with progress_display(args, lambda: ProgressPrinter(
                session.terminal, primary_metric=args.primary_metric)) as progress:
            result = run_phase1(request, settings, on_event=progress, should_stop=should_stop)
    summary = result.summary()
    if args.json:
        emit_json(summary)
    else:
        _print_summary(summary)
        if session.log_path and not args.quiet:
            print(f"log: {session.log_path}")
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    best = summary["best_model"]
    print(f"experiment {summary['experiment_id']}  parent run {summary['parent_run_id']}")
    for run in summary["runs"]:
        print(f"  {run['name']:<28} {run['status']:<9} {run['run_id']}")
    if best:
        print(f"best: {best['name']} ({best['primary_metric']} = {best['value']:.4f})")
    print(f"artifacts: {summary['artifacts_dir']}")
    print(f"tracking: {summary['tracking_uri']}")
