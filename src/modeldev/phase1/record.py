"""One framework's Phase 1 results: summarised over its folds and logged to its MLflow run.

Logged for each prediction metric m of the task (readable by any MLflow client as plain
metrics): `m` (the cross-validated mean, or the holdout value), `m_std`, `m_ci_low`,
`m_ci_high` and `m_fold1` ... `m_foldK`; `test_m` from the final model on the test rows. The
timing and size figures (`training_time`, `inference_time_ms`, `model_size_mb`, `gpu_used`)
keep their seed meaning, `training_time` as the mean over the folds.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np

from modeldev.data.preprocess import MISSING_POLICY
from modeldev.data.split import Split
from modeldev.evaluation.decision import DecisionRule, needs_rescoring
from modeldev.evaluation.latency import FIGURES as LATENCY
from modeldev.evaluation.metrics import get_metric, task_metric_names
from modeldev.evaluation.scoring import metric_of_outputs
from modeldev.evaluation.statistics import FoldSummary, flat_metrics, fold_summary, row_summary
from modeldev.frameworks.base import FittedModel, Framework
from modeldev.phase1.decisions import apply_rule, constant_predictions
from modeldev.phase1.results import FrameworkResult
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker

MEASURED = ("training_time", "inference_time_ms", "model_size_mb", "gpu_used")


def summaries(folds: list[dict[str, Any]], final: dict[str, Any], split: Split,
              primary: str) -> dict[str, FoldSummary]:
    """Each prediction metric and the fit time over the folds (holdout: the primary metric
    gets a bootstrap interval over the validation rows, the others their one value)."""
    n_train, n_valid = split.fold_sizes
    names = [m for m in task_metric_names(split.task) if m not in MEASURED]
    out = {m: fold_summary([f["metrics"][m] for f in folds], n_train, n_valid,
                           get_metric(m).bounds) for m in names}
    out["training_time"] = fold_summary([f["fit_seconds"] for f in folds], n_train, n_valid,
                                        get_metric("training_time").bounds)
    if split.holdout and "valid_outputs" in final:
        y = split.fold_valid(0)[1]
        cut = final.get("threshold")
        cuts = np.broadcast_to(np.nan if cut is None else cut, len(y)).astype(float)

        def statistic(yy: np.ndarray, oo: np.ndarray, tt: np.ndarray) -> float:
            return metric_of_outputs(primary, split.task, yy, oo, split.n_classes,
                                     None if np.isnan(tt).all() else tt)

        out[primary] = row_summary(statistic, (y, final["valid_outputs"], cuts), split.seed,
                                   bounds=get_metric(primary).bounds)
    return out


def finish(run: FrameworkResult, adapter: Framework, folds: list[dict[str, Any]],
           final: dict[str, Any], split: Split, primary: str, tracker: Tracker,
           rule: DecisionRule | None = None) -> None:
    """Apply the out-of-fold decisions, summarise a framework's folds, log its model, params
    and metrics, end its run."""
    model: FittedModel = final["model"]
    if needs_rescoring(rule, split.task):
        assert rule is not None
        apply_rule(rule, split, folds, final, model)
    run.warning = constant_predictions(split, folds, final, model.threshold)
    run.model, run.params, run.device = model, dict(model.fit_params), model.device_used
    run.fallback_reason = model.fallback_reason
    run.decision_threshold = _reported_threshold(model, rule)
    run.cv = summaries(folds, final, split, primary)
    if split.holdout:
        run.valid_outputs, run.valid_thresholds = final.get("valid_outputs"), final.get(
            "threshold")
    run.model_uri, size_mb = tracker.log_model(run.run_id, model, split.X_dev.head(5),
                                               list(adapter.requirements))
    run.metrics = {m: s.mean for m, s in run.cv.items()}
    run.metrics.update(inference_time_ms=final["inference_ms"], model_size_mb=size_mb,
                       gpu_used=float(model.device_used == "gpu"), **final.get("latency", {}))
    run.test_metrics = dict(final["test_metrics"])
    _log(tracker, run, split, model, rule)
    tracker.end_run(run.run_id, "FINISHED")
    run.status = "FINISHED"  # only once MLflow has it: a run whose end failed is still open


def fail(run: FrameworkResult, error: str, tracker: Tracker, trace: str | None = None) -> None:
    """End a framework's run FAILED with the error (and its traceback) as tags.

    The run is ended even when its tags cannot be logged, and counts as open (so the session's
    clean-up ends it KILLED) until MLflow has its end.
    """
    run.error = error[:2000]
    try:
        tracker.set_tags(run.run_id, {T.ERROR: run.error,
                                      T.ERROR_TRACEBACK: (trace or traceback.format_exc())[-4000:]})
    finally:
        tracker.end_run(run.run_id, "FAILED")
        run.status = "FAILED"


def _reported_threshold(model: FittedModel, rule: DecisionRule | None) -> float | None:
    """The logged model's cut (0.5 for the argmax of a binary model); None without one."""
    if model.task != "binary":
        return None
    return model.threshold if model.threshold is not None else 0.5


def _log(tracker: Tracker, run: FrameworkResult, split: Split, model: FittedModel,
         rule: DecisionRule | None) -> None:
    n_train, n_valid = split.fold_sizes
    params = {**run.params, "missing_value_policy": MISSING_POLICY,
              "n_features_raw": split.X_dev.shape[1], "n_features_used": len(split.plan.used),
              "imputed_columns": ",".join(map(str, split.plan.with_missing)) or "none",
              "n_train": len(split.final_rows().y), "cv_folds": split.cv_folds,
              "cv_repeats": split.repeats, "class_weight": split.class_weight or "none",
              "calibration": (rule.calibration if rule else None) or "none",
              "fold_train_rows": n_train, "fold_valid_rows": n_valid}
    metrics: dict[str, float | None] = {}
    for name, summary in run.cv.items():
        metrics.update(flat_metrics(name, summary))
    metrics.update({k: run.metrics[k] for k in (*MEASURED, *LATENCY) if k in run.metrics})
    metrics.update({f"test_{k}": v for k, v in run.test_metrics.items()})
    if run.decision_threshold is not None:
        params["decision_threshold"] = run.decision_threshold
    tags = {T.DEVICE: run.device}
    if run.warning:
        tags[T.CONSTANT_PREDICTOR] = run.warning
    if run.fallback_reason:
        tags[T.GPU_FALLBACK_REASON] = run.fallback_reason
    tracker.log_batch(run.run_id, params=params, metrics=metrics, tags=tags)
    for key in ("loss", "val_loss"):
        values = [h[key] for h in model.history if key in h]
        if values:
            tracker.log_metric_history(run.run_id, f"epoch_{key}", values)
