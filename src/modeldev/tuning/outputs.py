"""After the trials: read them back from MLflow, refit the best, measure on test, write outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from modeldev.artifacts import write_csv, write_json
from modeldev.charts.common import save_figure
from modeldev.charts.tuning import tuning_figures
from modeldev.config import Settings
from modeldev.context import phase2_update, update_context
from modeldev.data.split import Split
from modeldev.errors import AllFailedError
from modeldev.evaluation.scoring import inference_ms, score
from modeldev.frameworks.base import FitContext
from modeldev.frameworks.registry import get_framework
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker
from modeldev.tuning import analysis
from modeldev.tuning.baseline import Baseline
from modeldev.tuning.trial import TrialShared
from modeldev.tuning.types import TuneResult

RESULTS_FILE = "all_tuning_results.json"
TRIAL_KEYS = frozenset({"index", "hash", "params", "metrics", "status", "run_id", "error"})
# measured on the refit best model as Phase 1 measures each baseline; logged on the parent
MEASURED = ("training_time", "inference_time_ms", "model_size_mb", "gpu_used")


def load_trials(tracker: Tracker, parent_run_id: str) -> list[dict[str, Any]]:
    """Every trial of a tuning parent, from MLflow (so any past run can be redrawn).

    A finished parent holds them all in its results artifact, written from its children when
    it finished: one file read instead of a search over (say) a thousand child runs. A parent
    still running, stopped early, or without that file is read from its child runs.
    """
    if tracker.get_run(parent_run_id).status == "FINISHED":
        stored = tracker.read_json_artifact(parent_run_id, RESULTS_FILE)
        if isinstance(stored, list) and all(
                isinstance(t, dict) and t.keys() >= TRIAL_KEYS for t in stored):
            return stored
    return trials_from_children(tracker, parent_run_id)


def trials_from_children(tracker: Tracker, parent_run_id: str) -> list[dict[str, Any]]:
    """Every child trial of a tuning parent, read from its child runs."""
    trials = []
    for run in tracker.child_runs(parent_run_id):
        tags = run.tags
        if tags.get(T.KIND) != T.KIND_TRIAL:
            continue
        number = run.name.rsplit("_", 1)[-1]
        trials.append({
            "index": int(number) if number.isdigit() else 0,
            "hash": tags.get(T.COMBINATION_HASH), "params": json.loads(tags[T.PARAMS_JSON]),
            "metrics": dict(run.metrics), "status": run.status,
            "run_id": run.run_id, "error": tags.get(T.ERROR)})
    return sorted(trials, key=lambda t: t["index"])


def _fit_and_test(base: Baseline, split: Split, params: dict[str, Any],
                  shared: TrialShared) -> tuple[Any, dict[str, float]]:
    # the trials' device and thread budget: all threads of a busy 2-core box made a 0.8 s
    # XGBoost fit take 12 s (OpenMP threads waiting on each other)
    adapter = get_framework(base.framework, base.task)
    ctx = FitContext(device=shared.device, seed=split.seed, n_threads=shared.threads)
    started = time.perf_counter()
    model = adapter.fit(split, params, ctx)
    fit_seconds = time.perf_counter() - started
    test = score(model, split.X_test, split.y_test)
    test.update(training_time=fit_seconds, gpu_used=float(model.device_used == "gpu"))
    return model, test


def results_frame(trials: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per trial: index, status, params, metrics, run id, error."""
    rows = [{"trial": t["index"], "status": t["status"], **{f"param_{k}": v for k, v in
            t["params"].items()}, **t["metrics"], "run_id": t["run_id"],
             "error": t.get("error") or ""} for t in trials]
    return pd.DataFrame.from_records(rows)


def _write_files(folder: Path, trials: list[dict[str, Any]], grid: dict[str, list],
                 metric: str, baseline_val: float | None) -> None:
    write_json(folder / RESULTS_FILE, trials)
    write_csv(folder / "all_tuning_results.csv", results_frame(trials))
    top, impact = tuning_figures(trials, list(grid), metric, baseline_val)
    save_figure(impact, folder / "tuning_parameter_impact")
    save_figure(top, folder / "top_10_models")


def finish_tuning(tracker: Tracker, settings: Settings, base: Baseline, split: Split,
                  grid: dict[str, list], parent: str, folder: Path, started: float,
                  shared: TrialShared) -> TuneResult:
    """Analyse the trials, refit the best, log the model and summary, update the context."""
    metric = base.primary_metric
    trials = load_trials(tracker, parent)
    best = analysis.best_trial(trials, metric)
    n_failed = sum(t["status"] != "FINISHED" for t in trials)
    if best is None:
        tracker.end_run(parent, "FAILED")
        raise AllFailedError(f"Every one of the {len(trials)} combinations failed; see the "
                             f"error tags of the child runs of {parent}.")
    adapter = get_framework(base.framework, base.task)
    model, test = _fit_and_test(base, split, best["params"], shared)
    if base.test_value is None:  # no Phase 1 session: measure the baseline here, same split
        _, base_test = _fit_and_test(base, split, {}, shared)
        base.test_value = base_test.get(metric)
    final = test.get(metric)
    gain = analysis.improvement(final, base.test_value, metric)
    model_uri, size_mb = tracker.log_model(parent, model, split.X_train.head(5),
                                           list(adapter.requirements))
    test.update(inference_time_ms=inference_ms(model, split.X_val), model_size_mb=size_mb)
    _write_files(folder, trials, grid, metric, base.val_value)
    wall = time.time() - started
    info = {"model_name": base.framework, "best_params": best["params"],
            "best_trial_run_id": best["run_id"], "primary_metric": metric,
            "validation_metric_value": best["metrics"][metric], "final_metric_value": final,
            "baseline_metric_value": base.test_value, "improvement_pct": gain,
            "test_metrics": test, "model_uri": model_uri, "tuning_parent_run_id": parent,
            "phase1_run_id": base.training_run_id, "note": base.note}
    summary = {"framework": base.framework, "n_combinations": len(trials),
               "n_completed": len(trials) - n_failed, "n_failed": n_failed,
               "wall_seconds": wall, "best": info,
               "top_10": analysis.top_k(trials, metric, 10),
               "parameter_impact": analysis.parameter_impact(trials, list(grid), metric)}
    write_json(folder / "tuned_model_info.json", info)
    write_json(folder / "tuning_summary_report.json", summary)
    summary_run = _log_summary(tracker, parent, summary, info)
    tracker.log_artifacts(parent, folder)
    tracker.log_batch(parent, metrics={f"best_{metric}": best["metrics"][metric],
                                       f"test_{metric}": final, "improvement_pct": gain,
                                       **{k: test[k] for k in MEASURED}})
    if settings.context_path:
        update_context(settings.context_path, phase2_update(
            best_model_name=base.framework, best_model_params=best["params"],
            tuning_parent_run_id=parent, primary_metric=metric, final_metric_value=final,
            baseline_metric_value=base.test_value, improvement_pct=gain), replace=True)
    tracker.end_run(parent, "FINISHED")
    return TuneResult(
        tracking_uri=tracker.tracking_uri, experiment_id=tracker.get_run(parent).experiment_id,
        parent_run_id=parent, framework=base.framework, primary_metric=metric,
        n_combinations=len(trials), n_completed=len(trials) - n_failed, n_failed=n_failed,
        best_params=best["params"], baseline_metric_value=base.test_value,
        final_metric_value=final, improvement_pct=gain, artifacts_dir=folder,
        wall_seconds=wall, note=base.note, summary_run_id=summary_run, model_uri=model_uri)


def _log_summary(tracker: Tracker, parent: str, summary: dict[str, Any],
                 info: dict[str, Any]) -> str:
    exp = tracker.get_run(parent).experiment_id
    run_id = tracker.start_run(exp, "training_summary", parent,
                               tags={T.KIND: T.KIND_SUMMARY})
    metrics = {k: summary[k] for k in ("n_combinations", "n_completed", "n_failed",
                                       "wall_seconds")}
    metrics.update({"final_metric_value": info["final_metric_value"],
                    "baseline_metric_value": info["baseline_metric_value"],
                    "improvement_pct": info["improvement_pct"]})
    tracker.log_batch(run_id, params={"framework": summary["framework"],
                                      "primary_metric": info["primary_metric"],
                                      "best_params": json.dumps(info["best_params"])},
                      metrics={k: v for k, v in metrics.items() if v is not None})
    tracker.end_run(run_id, "FINISHED")
    return run_id
