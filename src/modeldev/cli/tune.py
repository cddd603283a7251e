"""`modeldev tune`: Phase 2 from the terminal."""

from __future__ import annotations

import argparse
from typing import Any

from modeldev.cli.common import common_options, data_source_options, emit_json, session_options


def add_tune_parser(sub: Any) -> None:
    """Register the `tune` subcommand."""
    p = sub.add_parser("tune", help="Phase 2: grid-tune the best Phase 1 framework")
    p.add_argument("--training-run", help="Phase 1 parent run id (default: the latest session)")
    p.add_argument("--framework", help="tune this framework instead of the best one")
    data_source_options(p, required=False)  # with --framework: tune a table, no Phase 1 needed
    p.add_argument("--grid", help="JSON file: {parameter: [values, ...]} (default grid otherwise)")
    p.add_argument("--primary-metric", help="default: the Phase 1 session's")
    p.add_argument("--workers", type=int, help="parallel trial processes (default: the cores)")
    p.add_argument("--dask-scheduler", help="tcp://host:8786 (env MODELDEV_DASK_SCHEDULER)")
    p.add_argument("--trial-timeout", type=float, help="seconds before a trial is killed")
    p.add_argument("--resume", metavar="PARENT_RUN_ID", help="finish an interrupted tuning run")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--experiment", help="MLflow experiment when tuning a data source directly")
    common_options(p)
    session_options(p)
    p.set_defaults(handler=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    """Run Phase 2 and print the result (a summary, or one JSON object with --json)."""
    # The engine is imported here, not at the top: `modeldev --help` stays instant.
    from modeldev.cli.common import progress_display, source_from_args
    from modeldev.cli.terminal import session_log
    from modeldev.config import resolve_settings
    from modeldev.console import TuneProgress
    from modeldev.events import install_stop_handlers
    from modeldev.tuning.grid import load_grid_file
    from modeldev.tuning.session import run_tuning
    from modeldev.tuning.types import TuneRequest

    should_stop = install_stop_handlers()
    settings = resolve_settings(args.workspace)
    request = TuneRequest(
        training_run_id=args.training_run, framework=args.framework,
        source=source_from_args(args), target=args.target, task=args.task,
        grid=load_grid_file(args.grid) if args.grid else None,
        primary_metric=args.primary_metric, workers=args.workers,
        dask_scheduler=args.dask_scheduler, trial_timeout=args.trial_timeout,
        resume=args.resume, seed=args.seed, device=args.device, experiment=args.experiment)
    with session_log(settings, "tune") as session:
        args.session_log = session.log_path
        with progress_display(args, lambda: TuneProgress(session.terminal)) as progress:
            result = run_tuning(request, settings, on_event=progress, should_stop=should_stop)
    summary = result.summary()
    if args.json:
        emit_json(summary)
        return 0
    print_result(summary)
    if session.log_path and not args.quiet:
        print(f"log: {session.log_path}")
    return 0


_SHOWN = {"framework", "n_combinations", "n_completed", "n_failed", "wall_seconds", "best_params",
          "primary_metric", "baseline_metric_value", "final_metric_value", "improvement_pct",
          "parent_run_id", "experiment_id", "artifacts_dir", "tracking_uri"}


def print_result(summary: dict[str, Any]) -> None:
    """The tuning's result in a few lines (every key of the --json object, the rest as is)."""
    from modeldev.console import duration

    s = summary
    wall = s.get("wall_seconds")
    print(f"tuned {s.get('framework')}: {s.get('n_completed')} of {s.get('n_combinations')} "
          f"combinations done, {s.get('n_failed')} failed, in "
          f"{duration(wall) if isinstance(wall, int | float) else wall}")
    print(f"best params: {s.get('best_params')}")
    pct = s.get("improvement_pct")
    print(f"{s.get('primary_metric')}: baseline {_number(s.get('baseline_metric_value'))}, "
          f"tuned {_number(s.get('final_metric_value'))} "
          f"({'-' if pct is None else f'{pct:+.2f}'} %)")
    print(f"parent run {s.get('parent_run_id')} (experiment {s.get('experiment_id')})")
    print(f"artifacts: {s.get('artifacts_dir')}")
    print(f"tracking: {s.get('tracking_uri')}")
    for key, value in s.items():
        if key not in _SHOWN and value not in (None, ""):
            print(f"{key}: {_number(value)}")


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
