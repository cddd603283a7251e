"""Where a tuning starts: the Phase 1 session, its data (reloaded and checked) and baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeldev.data.loading import Source, reload_source
from modeldev.data.validation import prepare
from modeldev.errors import InputError
from modeldev.evaluation.decision import DecisionRule, check_calibration
from modeldev.evaluation.metrics import default_primary_metric
from modeldev.evaluation.selection import rank_by_means
from modeldev.evaluation.thresholds import ThresholdRule, resolve_rule
from modeldev.frameworks.base import Framework
from modeldev.frameworks.registry import get_framework
from modeldev.tracking import tags as T
from modeldev.tracking.folders import DATA_DIR, session_folder
from modeldev.tracking.resumes import session_run
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.types import TuneRequest


@dataclass
class Baseline:
    """The Phase 1 facts a tuning needs."""

    training_run_id: str | None
    experiment_id: str | None
    source: Source
    target: str
    task: str
    seed: int
    framework: str
    primary_metric: str
    val_value: float | None = None
    test_value: float | None = None
    baseline_run_id: str | None = None
    note: str = ""
    ranking: list[dict[str, Any]] = field(default_factory=list)
    cv_folds: int | None = None  # the Phase 1 session's K (0: holdout); None: auto
    repeats: int | None = 1  # the Phase 1 session's R; None: auto
    threshold: str | float | None = 0.5  # a direct tuning's request (auto: None)
    threshold_rule: dict[str, Any] | None = None  # the Phase 1 session's resolved rule
    calibration: str | None = None
    class_weight: str | None = None


def decision_rule(base: Baseline, y_dev: np.ndarray) -> DecisionRule:
    """The tuning's threshold rule and calibration: the Phase 1 session's (binary sessions from
    before thresholds: the argmax), or resolved for a data source tuned directly."""
    if base.training_run_id is None:
        threshold = resolve_rule(base.threshold, base.task, y_dev, base.primary_metric)
    elif base.threshold_rule:
        threshold = ThresholdRule(**base.threshold_rule)
    else:
        threshold = resolve_rule(0.5 if base.task == "binary" else None, base.task, y_dev,
                                 base.primary_metric)
    return DecisionRule(threshold, check_calibration(base.calibration))


def latest_training_run(tracker: Tracker) -> str:
    """The newest finished Phase 1 session in the store."""
    exps = tracker.experiment_ids()
    runs = tracker.runs_of_kind(exps, T.KIND_PHASE1, "FINISHED", max_results=1) if exps else []
    if not runs:
        raise InputError("No finished Phase 1 session in this workspace; run `modeldev train` "
                         "first or pass --framework with a data source.")
    return runs[0].run_id


def resolve_baseline(request: TuneRequest, tracker: Tracker) -> Baseline:
    """The Phase 1 session (given, resumed or latest) or a fresh data source with a framework."""
    own = (request.cv, request.repeats, request.threshold, request.calibration,
           request.class_weight)
    if request.source is None and any(v is not None for v in own):
        raise InputError("--cv, --repeats, --threshold, --calibrate and --class-weight apply "
                         "to a data source tuned directly; a Phase 1 session's tuning uses "
                         "that session's own.")
    if request.source is not None:
        if not request.framework:
            raise InputError("--framework is required when tuning a data source directly.")
        data = prepare(request.source.frame, request.target or request.source.target,
                       request.task)
        metric = request.primary_metric or default_primary_metric(data.task)
        return Baseline(None, None, request.source, data.target, data.task, request.seed,
                        get_framework(request.framework, data.task).name, metric,
                        cv_folds=request.cv, repeats=request.repeats,
                        threshold=request.threshold, calibration=request.calibration,
                        class_weight=request.class_weight)
    run_id = request.training_run_id or latest_training_run(tracker)
    return from_training_run(tracker, run_id, request.framework, request.primary_metric)


def from_training_run(tracker: Tracker, run_id: str, framework: str | None,
                      primary_metric: str | None) -> Baseline:
    """Baseline facts from a Phase 1 parent run's artifacts folder and child runs."""
    run = session_run(tracker, run_id, T.KIND_PHASE1, "a Phase 1 session (modeldev train)")
    folder = session_folder(tracker, run)
    if folder is None:
        raise InputError(f"Phase 1 session {run_id} has not finished: its files reach MLflow "
                         "when it does; tune it then.")
    try:
        info = json.loads((folder / "best_model_info.json").read_text())
        manifest = json.loads((folder / "manifest.json").read_text())
        ranking = json.loads((folder / "all_models_metrics.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"Could not read the Phase 1 artifacts of run {run_id}: {exc}.") from None
    metric = primary_metric or info["primary_metric"]
    chosen, note = choose_framework(
        ranking, metric, info["task"], framework,
        int(manifest.get("split", {}).get("validation") or 0),
        info.get("model_name") if metric == info["primary_metric"] else None)
    dataset = manifest["dataset"]
    base = Baseline(training_run_id=run_id, experiment_id=run.experiment_id,
                    source=reload_source(dataset["origin"], dataset["hash"], folder / DATA_DIR),
                    target=info["target"], task=info["task"],
                    seed=int(info["split_seed"]), framework=chosen, primary_metric=metric,
                    note=note, ranking=ranking, cv_folds=int(info.get("cv_folds") or 0),
                    repeats=int(info.get("cv_repeats") or 1),
                    threshold_rule=info.get("threshold_rule"),
                    calibration=info.get("calibration"), class_weight=info.get("class_weight"))
    row = next((r for r in ranking if r["name"] == chosen and r["status"] == "FINISHED"), None)
    if row:
        base.baseline_run_id = row["run_id"]
        base.val_value = row["metrics"].get(metric)
        base.test_value = row["test_metrics"].get(metric)
    return base


def tunable(adapter: Framework, task: str) -> bool:
    """Whether a framework has a default grid for the task."""
    return bool(adapter.default_grid(task))


def _scored_rows(ranking: list[dict[str, Any]], metric: str, fold_valid_rows: int) -> int:
    """Rows behind a cross-validated mean (validation rows x fold scores), for the tie band."""
    folds = max((len(((r.get("cv") or {}).get(metric) or {}).get("folds") or [])
                 for r in ranking), default=1)
    return max(1, fold_valid_rows) * max(1, folds)


def choose_framework(ranking: list[dict[str, Any]], metric: str, task: str,
                     wanted: str | None, fold_valid_rows: int = 0,
                     winner: str | None = None) -> tuple[str, str]:
    """The framework to tune: the one asked for, else Phase 1's winner (`winner`, chosen by
    its own rule for this metric) when it has a grid, else the best Phase 1 run with a grid
    (means within the tie band go to the one listed first)."""
    if wanted:
        if not tunable(get_framework(wanted, task), task):
            raise InputError(f"{wanted} has no parameters to tune.")
        return wanted, ""
    means = {row["name"]: float(value) for row in ranking
             if row.get("status") == "FINISHED"
             and (value := (row.get("metrics") or {}).get(metric)) is not None}
    order, _ = rank_by_means(means, metric, _scored_rows(ranking, metric, fold_valid_rows))
    if winner is not None and winner in means:
        order = [winner, *(n for n in order if n != winner)]
    best = next((n for n in order if tunable(get_framework(n, task), task)), None)
    if best is None:
        raise InputError("No finished Phase 1 framework has a tuning grid.")
    note = ""
    if order[0] != best:
        note = (f"{order[0]} was best by {metric} but has nothing to tune; tuning {best}, "
                "the best framework with a grid.")
    return best, note
