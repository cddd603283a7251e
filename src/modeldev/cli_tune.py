"""`modeldev tune`: Phase 2 from the terminal."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from modeldev.events import Event


def add_tune_parser(sub: Any) -> None:
    """Register the `tune` subcommand."""
    from modeldev.cli import common_options
    from modeldev.cli_train import data_source_options

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
    p.set_defaults(handler=run_tune)


class TuneProgress:
    """Trials done/total, best so far and ETA on stderr."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, event: Event) -> None:
        """Print one event (progress lines at most twice a second off a terminal)."""
        if event["type"] == "session_started":
            note = f" ({event['note']})" if event.get("note") else ""
            print(f"tuning {event['framework']}: {event['total']} combinations in "
                  f"{event['tasks']} fits on {event['workers']} workers, {event['skipped']} "
                  f"already done{note}", file=sys.stderr, flush=True)
        elif event["type"] == "trial_finished":
            self._progress(event)

    def _progress(self, event: Event) -> None:
        done = event["done"] == event["total"]
        if not done and not self.tty and time.time() - self.last < 0.5:
            return
        self.last = time.time()
        eta = event.get("eta_seconds")
        best = event.get("best")
        text = (f"  {event['done']}/{event['total']} done, {event['failed']} failed, best "
                f"{'-' if best is None else f'{best:.4f}'}, ETA "
                f"{'-' if eta is None else f'{eta:.0f}s'}")
        end = "\n" if done or not self.tty else ""
        sys.stderr.write(("\r" if self.tty else "") + text + end)
        sys.stderr.flush()


def run_tune(args: argparse.Namespace) -> int:
    """Run Phase 2 and print the result (a summary, or one JSON object with --json)."""
    from modeldev.cli import emit_json, install_stop_handlers
    from modeldev.cli_train import load_source
    from modeldev.config import resolve_settings
    from modeldev.tuning.engine import TuneRequest
    from modeldev.tuning.grid import load_grid_file
    from modeldev.tuning.session import run_tuning

    should_stop = install_stop_handlers()
    settings = resolve_settings(args.workspace)
    source = load_source(args) if (args.data or args.demo or args.context) else None
    request = TuneRequest(
        training_run_id=args.training_run, framework=args.framework, source=source,
        target=args.target, task=args.task,
        grid=load_grid_file(args.grid) if args.grid else None,
        primary_metric=args.primary_metric, workers=args.workers,
        dask_scheduler=args.dask_scheduler, trial_timeout=args.trial_timeout,
        resume=args.resume, seed=args.seed, device=args.device, experiment=args.experiment)
    result = run_tuning(request, settings, on_event=(lambda e: None) if args.json
                        else TuneProgress(), should_stop=should_stop)
    summary = tune_summary(result)
    if args.json:
        emit_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def tune_summary(result: Any) -> dict[str, Any]:
    """The `--json` object of `modeldev tune`."""
    return {
        "tracking_uri": result.tracking_uri, "experiment_id": result.experiment_id,
        "parent_run_id": result.parent_run_id, "framework": result.framework,
        "n_combinations": result.n_combinations, "n_completed": result.n_completed,
        "n_failed": result.n_failed, "best_params": result.best_params,
        "primary_metric": result.primary_metric,
        "baseline_metric_value": result.baseline_metric_value,
        "final_metric_value": result.final_metric_value,
        "improvement_pct": result.improvement_pct, "artifacts_dir": str(result.artifacts_dir),
        "wall_seconds": round(result.wall_seconds, 3), "note": result.note,
    }
