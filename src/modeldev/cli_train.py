"""`modeldev train`: Phase 1 from the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modeldev.events import Event


def add_train_parser(sub: Any) -> None:
    """Register the `train` subcommand."""
    from modeldev.cli import common_options

    p = sub.add_parser("train", help="Phase 1: baselines of every framework")
    data_source_options(p, required=True)
    p.add_argument("--frameworks", help="comma-separated framework names (default: all)")
    p.add_argument("--primary-metric", help="default f1_score (classification), rmse (regression)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--experiment", help="MLflow experiment (default {project}_model)")
    p.add_argument("--project", help="project name for the default experiment")
    common_options(p)
    p.set_defaults(handler=run_train)


def data_source_options(p: argparse.ArgumentParser, required: bool) -> None:
    """--data | --demo | --context, with --target and --task."""
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--data", help="CSV or Parquet file")
    src.add_argument("--demo", help="built-in dataset: breast_cancer, wine or diabetes")
    src.add_argument("--context", help="pipeline_context.json naming the feature data")
    p.add_argument("--target", help="target column (required with --data)")
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])


def load_source(args: argparse.Namespace) -> Any:
    """The table named by exactly one of --data, --demo, --context."""
    from modeldev.data import load_context, load_demo, load_table
    from modeldev.errors import InputError

    if args.data:
        if not args.target:
            raise InputError("--target is required with --data.")
        src = load_table(args.data)
        src.target = args.target
        return src
    if args.demo:
        return load_demo(args.demo)
    return load_context(args.context)


class ProgressPrinter:
    """Per-framework (and per-epoch) progress on stderr."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.tty = sys.stderr.isatty()

    def __call__(self, event: Event) -> None:
        """Print one event."""
        kind = event["type"]
        if kind == "session_started":
            self.total = len(event["frameworks"])
            self._line(f"task: {event['task']} ({event['task_reason']}); split {event['sizes']}")
            for notice in event.get("notices", []):
                self._line(f"notice: {notice}")
        elif kind == "framework_started":
            self._line(f"[{self.done + 1}/{self.total}] {event['framework']} on "
                       f"{event['device']} ...")
        elif kind == "epoch" and self.tty:
            sys.stderr.write(f"\r    epoch {event['epoch']}/{event['epochs']} loss "
                             f"{event['loss']:.4f} val_loss {event['val_loss']:.4f}   ")
        elif kind in ("framework_finished", "framework_failed"):
            self.done += 1
            self._end_framework(event)

    def _end_framework(self, event: Event) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 70 + "\r")
        if event["type"] == "framework_failed":
            self._line(f"    FAILED: {event['error']}")
            return
        m = event["metrics"]
        shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("f1_score", "roc_auc", "rmse", "r2_score")
                          if m.get(k) is not None)
        self._line(f"    done in {event['seconds']:.1f}s: {shown}")

    @staticmethod
    def _line(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def run_train(args: argparse.Namespace) -> int:
    """Run Phase 1 and print the result (a table, or one JSON object with --json)."""
    from modeldev.cli import emit_json, install_stop_handlers
    from modeldev.config import resolve_settings
    from modeldev.training import TrainRequest, run_phase1

    should_stop = install_stop_handlers()
    settings = resolve_settings(args.workspace)
    request = TrainRequest(
        source=load_source(args), target=args.target, task=args.task,
        frameworks=[f.strip() for f in args.frameworks.split(",")] if args.frameworks else None,
        primary_metric=args.primary_metric, seed=args.seed, device=args.device,
        experiment=args.experiment, project=args.project)
    progress = (lambda e: None) if args.json else ProgressPrinter()
    result = run_phase1(request, settings, on_event=progress, should_stop=should_stop)
    summary = training_summary(result)
    if args.json:
        emit_json(summary)
    else:
        _print_summary(summary)
    return 0


def training_summary(result: Any) -> dict[str, Any]:
    """The `--json` object of `modeldev train`."""
    from modeldev.metrics import finite_or_none

    best = result.best
    return {
        "tracking_uri": result.tracking_uri,
        "experiment_id": result.experiment_id,
        "parent_run_id": result.parent_run_id,
        "task": result.task,
        "runs": [{"name": r.name, "run_id": r.run_id, "status": r.status,
                  "metrics": finite_or_none(r.metrics), "error": r.error} for r in result.runs],
        "best_model": None if best is None else {
            "name": best.name, "run_id": best.run_id, "primary_metric": result.primary_metric,
            "value": best.metrics.get(result.primary_metric)},
        "artifacts_dir": str(result.artifacts_dir),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    best = summary["best_model"]
    print(f"experiment {summary['experiment_id']}  parent run {summary['parent_run_id']}")
    for run in summary["runs"]:
        print(f"  {run['name']:<28} {run['status']:<9} {run['run_id']}")
    if best:
        print(f"best: {best['name']} ({best['primary_metric']} = {best['value']:.4f})")
    print(f"artifacts: {summary['artifacts_dir']}")
    print(f"tracking: {summary['tracking_uri']}")
