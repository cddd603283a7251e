"""`modeldev tune`: Phase 2 from the terminal."""

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
    p.add_argument("--register", metavar="NAME", default="",
                   help="register the model carried forward under NAME, alias champion "
                        "(default: the experiment's name)")
    p.add_argument("--no-register", action="store_true",
                   help="do not register the model carried forward")
    evaluation_options(p, direct_only=True)  # with a session they are refused: its folds rule
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
        source=source_from_args(args, settings.limits), target=args.target, task=args.task,
        grid=load_grid_file(args.grid) if args.grid else None,
        primary_metric=args.primary_metric, workers=args.workers,
        dask_scheduler=args.dask_scheduler, trial_timeout=args.trial_timeout,
        resume=args.resume, seed=args.seed, device=args.device, experiment=args.experiment,
        cv=args.cv, repeats=args.repeats, threshold=threshold_option(args.threshold),
        calibration=args.calibrate, class_weight=args.class_weight,
        register_as=None if args.no_register else args.register)
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


def print_result(summary: dict[str, Any]) -> None:
    """The tuning's result in a few plain lines: what was tried, the verdict, what goes on."""
    from modeldev.console import duration
    from modeldev.data.split import scheme_text

    metric, low_high = summary["primary_metric"], summary["improvement_ci_pct"] or [None, None]
    wall = summary["wall_seconds"]
    how = scheme_text(summary["cv_folds"], summary.get("cv_repeats") or 1)
    print(f"tuned {summary['framework']}: {summary['n_completed']} of "
          f"{summary['n_combinations']} combinations done, {summary['n_failed']} failed, in "
          f"{duration(wall)} ({how})")
    print(f"best params: {summary['best_params']}")
    print(f"test {metric}: tuned {_number(summary['final_metric_value'])}, baseline "
          f"{_number(summary['baseline_metric_value'])}, improvement "
          f"{_pct(summary['improvement_pct'])} (95 % interval {_pct(low_high[0])} to "
          f"{_pct(low_high[1])})")
    words = {"better": "better than", "worse": "worse than",
             "no_difference": "not distinguishable from"}.get(summary["verdict"], "?")
    print(f"verdict: the tuned model is {words} the baseline, judged on the development rows "
          f"after choosing the best of {summary['n_completed']} (selection-adjusted p = "
          f"{_number(summary.get('verdict_p_value'))}); carried forward: the "
          f"{summary['carried_forward']} model")
    if summary.get("registered_model"):
        print(f"registered: {summary['registered_model']} version {summary['model_version']}, "
              f"alias champion ({summary['serving_card']})")
    elif summary.get("registration_error"):
        print(f"not registered: {summary['registration_error']}")
    print(f"parent run {summary['parent_run_id']} (experiment {summary['experiment_id']})")
    print(f"artifacts: {summary['artifacts_dir']}")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} %"
