"""A tuning's trials read back from MLflow (or its results file), and its result files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from modeldev.artifacts import write_csv, write_json
from modeldev.charts.common import save_figure
from modeldev.charts.tuning import tuning_figures
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker

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


def results_frame(trials: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per trial: index, status, params, metrics (cross-validated means, then the
    primary metric's spread, interval and fold scores), run id, error."""
    rows = [{"trial": t["index"], "status": t["status"], **{f"param_{k}": v for k, v in
            t["params"].items()}, **t["metrics"], "run_id": t["run_id"],
             "error": t.get("error") or ""} for t in trials]
    return pd.DataFrame.from_records(rows)


def write_result_files(folder: Path, trials: list[dict[str, Any]], grid: dict[str, list],
                       metric: str, baseline_value: float | None,
                       fold_rows: tuple[int, int] | None) -> None:
    """The trials as JSON and CSV, and the top-10 and parameter-impact charts."""
    write_json(folder / RESULTS_FILE, trials)
    write_csv(folder / "all_tuning_results.csv", results_frame(trials))
    top, impact = tuning_figures(trials, list(grid), metric, baseline_value, fold_rows)
    save_figure(impact, folder / "tuning_parameter_impact")
    save_figure(top, folder / "top_10_models")
