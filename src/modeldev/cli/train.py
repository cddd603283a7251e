"""`modeldev train`: Phase 1 from the terminal."""

from __future__ import annotations

import argparse
from typing import Any

from modeldev.cli.common import (
    common_options,
    data_source_options,
    emit_json,
    evaluation_options,
    session_options,
    threshold_option,
)


def add_train_parser(sub: Any) -> None:
    """Register the `train` subcommand."""
    p = sub.add_parser("train", help="Phase 1: baselines of every framework")
    data_source_options(p, required=False)  # one of them, unless --resume
    p.add_argument("--frameworks", help="comma-separated framework names (default: all)")
    p.add_argument("--primary-metric", help="default f1_score (classification), rmse (regression)")
    p.add_argument("--seed", type=int, default=42)
    evaluation_options(p)
    p.add_argument("--equivalence-margin", type=float, metavar="DELTA",
                   help="how close to the winner counts as practically equivalent, in the "
                        "metric's units (default: 0.01 on a 0-1 scale, else 1 %% of the best)")
    p.add_argument("--workers", type=int, help="fits side by side (default: the cores, at most 4)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--framework-timeout", type=float, metavar="SECONDS",
                   help="seconds one fit of a framework may take before it fails (default: none)")
    p.add_argument("--resume", metavar="PARENT_RUN_ID",
                   help="finish a failed, cancelled or killed session: the same data, split and "
                        "options; only the frameworks without a FINISHED run are fitted")
    p.add_argument("--experiment", help="MLflow experiment (default {project}_model)")
    p.add_argument("--project", help="project name for the default experiment")
    common_options(p)
    session_options(p)
    p.set_defaults(handler=run_train)


def _figure(run: dict[str, Any], metric: str | None) -> str:
    """'0.9643 [0.9501, 0.9786]': the primary metric and its 95 % interval."""
    if metric is None or run["metrics"].get(metric) is None:
        return run.get("error") or ""
    spread = (run.get("cv") or {}).get(metric) or {}
    text = f"{metric} {run['metrics'][metric]:.4f}"
    if spread.get("ci_low") is not None and spread.get("ci_high") is not None:
        text += f" [{spread['ci_low']:.4f}, {spread['ci_high']:.4f}]"
    return text


def run_train(args: argparse.Namespace) -> int:
    """Run Phase 1 and print the result (a table, or one JSON object with --json)."""
    # The engine is imported here, not at the top: `modeldev --help` stays instant.
    from modeldev.cli.common import progress_display, source_from_args
    from modeldev.cli.terminal import session_log
    from modeldev.config import resolve_settings
    from modeldev.console import ProgressPrinter
    from modeldev.errors import InputError
    from modeldev.events import install_stop_handlers
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import resume_phase1, run_phase1

    should_stop = install_stop_handlers()
    settings = resolve_settings(args.workspace)
    source = source_from_args(args, settings.limits)
    if source is None and not args.resume:
        raise InputError("modeldev train needs --data, --demo or --context (or --resume "
                         "PARENT_RUN_ID).")
    with session_log(settings, "train") as session:
        args.session_log = session.log_path
        with progress_display(args, lambda: ProgressPrinter(
                session.terminal, primary_metric=args.primary_metric)) as progress:
            if args.resume:
                result = resume_phase1(args.resume, settings, source, args.framework_timeout,
                                       on_event=progress, should_stop=should_stop)
            else:
                assert source is not None
                request = TrainRequest(
                    source=source, target=args.target, task=args.task,
                    frameworks=[f.strip() for f in args.frameworks.split(",")]
                    if args.frameworks else None,
                    primary_metric=args.primary_metric, seed=args.seed, device=args.device,
                    experiment=args.experiment, project=args.project, cv=args.cv,
                    repeats=args.repeats, equivalence_margin=args.equivalence_margin,
                    threshold=threshold_option(args.threshold), calibration=args.calibrate,
                    class_weight=args.class_weight,
                    workers=args.workers, framework_timeout=args.framework_timeout)
                result = run_phase1(request, settings, on_event=progress,
                                    should_stop=should_stop)
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
    from modeldev.data.split import scheme_text

    scheme = scheme_text(summary["cv_folds"], summary.get("cv_repeats") or 1)
    print(f"experiment {summary['experiment_id']}  parent run {summary['parent_run_id']}  "
          f"({scheme})")
    metric = best["primary_metric"] if best else None
    for run in summary["runs"]:
        print(f"  {run['name']:<28} {run['status']:<9} {_figure(run, metric)}")
    if best:
        tier = [n for n in summary["top_tier"] if n != best["name"]]
        print(f"best: {best['name']} ({metric} = {best['value']:.4f})"
              + (f"; not distinguishable from it: {', '.join(tier)}" if tier
                 else "; every other framework is shown not to be the best"))
        if summary.get("equivalent"):
            print(f"practically equivalent to it (within +-{summary['equivalence_margin']:.3g}): "
                  f"{', '.join(summary['equivalent'])}")
    print(f"artifacts: {summary['artifacts_dir']}")
    print(f"tracking: {summary['tracking_uri']}")
