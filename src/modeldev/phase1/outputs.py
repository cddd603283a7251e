"""What Phase 1 leaves behind: comparison files, best-model info, manifest and context update."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from modeldev.artifacts import write_csv, write_json
from modeldev.charts.common import save_figure
from modeldev.charts.comparison import comparison_figure
from modeldev.config import Limits, Settings
from modeldev.context import phase1_update, update_context
from modeldev.data.loading import reload_source, source_files
from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.evaluation.metrics import finite_or_none, get_metric, task_metric_names
from modeldev.gpu import detect_gpu
from modeldev.phase1.results import TrainingResult, TrainRequest
from modeldev.tracking import tags as T
from modeldev.tracking.folders import DATA_DIR
from modeldev.tracking.tracker import Tracker

SELECTION_FILE = "selection_rationale.json"
VERSIONED_PACKAGES = ("modeldev", "scikit-learn", "xgboost", "lightgbm", "tensorflow", "torch",
                      "statsmodels", "mlflow", "pandas", "numpy", "plotly")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on."""
    out: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def comparison_rows(result: TrainingResult) -> list[dict[str, Any]]:
    """One row per framework: name, status, run id, cross-validated metrics with their spread
    (`cv`), test metrics, whether it is in the top tier, its decision threshold (binary) and
    any warning (it predicts one class)."""
    tier = set(result.top_tier)
    return [{"name": r.name, "status": r.status, "run_id": r.run_id, "device": r.device,
             "metrics": finite_or_none(r.metrics), "cv": r.cv_dict(),
             "test_metrics": finite_or_none(r.test_metrics), "top_tier": r.name in tier,
             "decision_threshold": r.decision_threshold, "warning": r.warning,
             "error": r.error} for r in result.runs]


def summary_frame(result: TrainingResult) -> pd.DataFrame:
    """The comparison table: one row per framework, validation metrics then test metrics."""
    names = task_metric_names(result.task)
    records = []
    for r in result.runs:
        row: dict[str, Any] = {"model": r.name, "status": r.status, "device": r.device,
                               "top_tier": r.name in result.top_tier}
        row.update({m: r.metrics.get(m) for m in names})
        for m, s in r.cv.items():
            row.update({f"{m}_std": s.std, f"{m}_ci_low": s.ci_low, f"{m}_ci_high": s.ci_high})
        row.update({f"test_{m}": r.test_metrics.get(m) for m in names})
        row.update(decision_threshold=r.decision_threshold, warning=r.warning or "",
                   error=r.error or "")
        records.append(row)
    return pd.DataFrame.from_records(records)


def best_model_info(result: TrainingResult) -> dict[str, Any]:
    """What tuning needs to know about the winner."""
    best, primary = result.best, result.primary_metric
    return {
        "model_name": best.name if best else None,
        "run_id": best.run_id if best else None,
        "model_uri": best.model_uri if best else None,
        "primary_metric": primary,
        "direction": get_metric(primary).direction,
        "primary_metric_value": best.metrics.get(primary) if best else None,
        "test_primary_metric_value": best.test_metrics.get(primary) if best else None,
        "params": best.params if best else {},
        "task": result.task,
        "target": result.data.target,
        "parent_run_id": result.parent_run_id,
        "experiment_id": result.experiment_id,
        "training_time": best.metrics.get("training_time") if best else None,
        "split_seed": result.split.seed,
        "cv_folds": result.split.cv_folds,
        "cv_repeats": result.split.repeats,
        "cv": best.cv_dict().get(primary) if best else None,
        "top_tier": result.top_tier,
        "tied_with": result.selection.tied_with() if result.selection else [],
        "not_distinguishable": result.selection.tied_with() if result.selection else [],
        "equivalent": result.selection.equivalent() if result.selection else [],
        "tier_method": result.selection.tier_method if result.selection else "",
        "dataset_hash": result.dataset_hash,
        "decision_threshold": best.decision_threshold if best else None,
        **(result.decision.as_dict() if result.decision else {"threshold_rule": None,
                                                                "calibration": None}),
        "class_weight": result.split.class_weight,
    }


def selection_rationale(result: TrainingResult) -> dict[str, Any]:
    """Why the winner won: the rule, the test, each comparison with its p-value and interval."""
    sel = result.selection
    n_train, n_valid = result.split.fold_sizes
    body: dict[str, Any] = sel.as_dict() if sel else {"winner": None}
    body.update(cv_folds=result.split.cv_folds, cv_repeats=result.split.repeats,
                fold_train_rows=n_train,
                fold_valid_rows=n_valid, seed=result.split.seed,
                candidates={r.name: r.cv_dict().get(result.primary_metric)
                            for r in result.runs if r.status == "FINISHED"})
    return body


def manifest(result: TrainingResult, request: TrainRequest) -> dict[str, Any]:
    """Provenance of a session: data, split, seed, packages, machine and GPU."""
    frame = request.source.frame
    return {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"name": request.source.name, "origin": request.source.origin,
                    "hash": result.dataset_hash, "rows": int(frame.shape[0]),
                    "columns": int(frame.shape[1]), "target": result.data.target},
        "task": result.task, "task_reason": result.data.task_reason,
        "columns": {"numeric": result.split.plan.numeric,
                    "categorical": result.split.plan.categorical,
                    "dropped": result.split.plan.dropped},
        "split": {"seed": result.split.seed, **result.split.sizes,
                  "classes": result.split.classes},
        "recommended_algorithms": request.source.recommended_algorithms,
        "notices": result.notices, "packages": package_versions(),
        "python": platform.python_version(), "platform": platform.platform(),
        "gpu": detect_gpu(),
        "tracking_uri": result.tracking_uri, "parent_run_id": result.parent_run_id,
    }


def write_phase1_outputs(result: TrainingResult, request: TrainRequest, tracker: Tracker,
                         settings: Settings) -> Path:
    """Write the session's files to its folder, log them to the parent run, update context."""
    folder = result.artifacts_dir
    rows = comparison_rows(result)
    write_json(folder / "all_models_metrics.json", rows)
    write_csv(folder / "model_comparison_summary.csv", summary_frame(result))
    fig = comparison_figure(rows, result.task, result.primary_metric,
                            result.best.name if result.best else None)
    save_figure(fig, folder / "all_models_comparison")
    info = best_model_info(result)
    write_json(folder / "best_model_info.json", info)
    write_json(folder / SELECTION_FILE, selection_rationale(result))
    write_json(folder / "manifest.json", manifest(result, request))
    tracker.log_artifacts(result.parent_run_id, folder)
    if not settings.uses_sqlite:  # a shared server: the data travels with the session
        for path in source_files(request.source.origin):
            tracker.log_artifact(result.parent_run_id, path, DATA_DIR)
    tracker.set_tags(result.parent_run_id, {
        T.ARTIFACTS_DIR: str(folder), T.BEST_MODEL: info["model_name"] or "",
        T.BEST_METRIC_VALUE: str(info["primary_metric_value"]),
        T.TOP_TIER: ",".join(result.top_tier)})
    update_context(settings.context_path, phase1_update(info, {
        "experiment_id": result.experiment_id, "tracking_uri": result.tracking_uri,
        "artifacts_dir": str(folder), "task": result.task, "runs": rows}),
        replace=True)
    return folder


def session_split(manifest: dict[str, Any], info: dict[str, Any], limits: Limits,
                  copies: Path | None = None) -> Split:
    """A session's split rebuilt from its manifest and best_model_info (same data and seed;
    `copies`: the session's `data` folder, the file's logged copy)."""
    dataset = manifest["dataset"]
    source = reload_source(dataset["origin"], dataset["hash"], copies, limits)
    data = prepare(source.frame, info["target"], info["task"], limits)
    return make_split(data, int(manifest["split"]["seed"]), int(info.get("cv_folds") or 0),
                      int(info.get("cv_repeats") or 1))
