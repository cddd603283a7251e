"""Resuming a Phase 1 session: the same data, split and options, only the missing frameworks.

A session writes `session_spec.json` into its folder when it starts. `modeldev train --resume
PARENT_RUN_ID` reads it back, reloads the data (refused if its hash changed), rebuilds the same
folds, restores every framework that already has a FINISHED run under the parent (its fold
scores, test figures and model come from MLflow), and fits only the others, under the same
parent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modeldev.data.loading import Source, dataset_hash, source_again
from modeldev.data.split import Split
from modeldev.errors import InputError
from modeldev.evaluation.decision import DecisionRule, decide_split, needs_rescoring
from modeldev.evaluation.latency import FIGURES as LATENCY
from modeldev.evaluation.metrics import task_metric_names
from modeldev.evaluation.statistics import FoldSummary
from modeldev.frameworks.base import FittedModel
from modeldev.phase1.record import MEASURED
from modeldev.phase1.results import FrameworkResult, TrainRequest
from modeldev.tracking import tags as T
from modeldev.tracking.records import RunRecord
from modeldev.tracking.resumes import refuse_live, session_run, take_over
from modeldev.tracking.tracker import Tracker

SPEC_FILE = "session_spec.json"


def session_spec(request: TrainRequest, split: Split, frameworks: list[str],
                 primary: str) -> dict[str, Any]:
    """What a resume needs to run the same session again."""
    src = request.source
    return {"source": {"name": src.name, "origin": src.origin, "hash": dataset_hash(src.frame),
                       "target": request.target or src.target},
            "task": request.task, "frameworks": frameworks, "primary_metric": primary,
            "seed": request.seed, "cv_folds": split.cv_folds, "repeats": split.repeats,
            "equivalence_margin": request.equivalence_margin, "device": request.device,
            "experiment": request.experiment, "project": request.project,
            "framework_timeout": request.framework_timeout, "threshold": request.threshold,
            "calibration": request.calibration, "class_weight": split.class_weight}


def _parent(tracker: Tracker, run_id: str) -> RunRecord:
    return session_run(tracker, run_id, T.KIND_PHASE1, "a Phase 1 session (modeldev train)")


def resume_request(tracker: Tracker, parent_id: str, source: Source | None = None,
                   framework_timeout: float | None = None) -> TrainRequest:
    """The original session's request, its data reloaded (or `source`, hash-checked)."""
    run = _parent(tracker, parent_id)
    path = Path(run.tags.get(T.ARTIFACTS_DIR, "")) / SPEC_FILE
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError):
        raise InputError(f"Session {parent_id} cannot be resumed: it has no {SPEC_FILE} "
                         "(it was started by an earlier version, or its folder is gone).") \
            from None
    src = spec["source"]
    return TrainRequest(source=source_again(source, src["origin"], src["hash"], "session"),
                        target=src["target"], task=spec["task"],
                        frameworks=spec["frameworks"], primary_metric=spec["primary_metric"],
                        seed=spec["seed"], cv=spec["cv_folds"], device=spec["device"],
                        repeats=spec.get("repeats", 1),  # sessions from before repeats: 1
                        equivalence_margin=spec.get("equivalence_margin"),
                        threshold=spec.get("threshold", 0.5),  # before thresholds: argmax
                        calibration=spec.get("calibration"),
                        class_weight=spec.get("class_weight"),
                        experiment=spec["experiment"], project=spec["project"],
                        framework_timeout=framework_timeout or spec["framework_timeout"],
                        resume=parent_id)


def reopen(tracker: Tracker, parent_id: str) -> tuple[str, Path]:
    """Sweep stale runs, refuse a live session, set its parent RUNNING again under this process;
    return its experiment and folder."""
    run = _parent(tracker, parent_id)
    refuse_live(tracker, run, "Session")
    take_over(tracker, parent_id)
    return run.experiment_id, Path(run.tags[T.ARTIFACTS_DIR])


def restore_finished(tracker: Tracker, parent_id: str, split: Split,
                     rule: DecisionRule | None = None) -> dict[str, FrameworkResult]:
    """Every framework with a FINISHED run under the parent, as it was logged; the others'
    runs (failed, killed) are deleted, so each framework keeps one run once refitted."""
    out: dict[str, FrameworkResult] = {}
    dropped = 0
    for run in tracker.child_runs(parent_id):
        name = run.tags.get(T.FRAMEWORK, "")
        if run.tags.get(T.KIND) != T.KIND_PHASE1_MODEL:
            continue
        if run.status != "FINISHED" or name in out:
            tracker.delete_run(run.run_id)
            dropped += 1
            continue
        restored = FrameworkResult(
            name=name, run_id=run.run_id, status="FINISHED", params=dict(run.params),
            metrics={k: v for k, v in run.metrics.items()
                     if k in task_metric_names(split.task) or k in LATENCY},
            cv=_summaries(run.metrics, split), device=run.tags.get(T.DEVICE, "cpu"),
            test_metrics={k.removeprefix("test_"): v for k, v in run.metrics.items()
                          if k.startswith("test_")},
            model_uri=tracker.model_location(run.model_ids[0]) if run.model_ids else None,
            decision_threshold=_float(run.params.get("decision_threshold")),
            warning=run.tags.get(T.CONSTANT_PREDICTOR))
        if split.holdout and run.model_ids:  # the holdout comparison needs its outputs
            _holdout_outputs(restored, tracker.load_fitted(run.model_ids[0]), split, rule)
        out[name] = restored
    tracker.set_tags(parent_id, {T.RESUME_DROPPED: str(dropped)})
    return out


def _float(text: str | None) -> float | None:
    return None if text in (None, "") else float(str(text))


def _holdout_outputs(restored: FrameworkResult, model: FittedModel, split: Split,
                     rule: DecisionRule | None) -> None:
    """A restored framework's validation outputs and per-row cuts, decided again from its
    raw probabilities exactly as the first run decided them."""
    Xt = model.transform(split.fold_valid(0)[0])
    if split.task == "regression" or not needs_rescoring(rule, split.task):
        restored.valid_outputs = model.outputs(Xt)
        return
    assert rule is not None
    decided = decide_split(rule, split, [np.asarray(model.core.predict_proba(Xt), dtype=float)])
    restored.valid_outputs, restored.valid_thresholds = decided.outputs[0], decided.thresholds[0]


def _summaries(metrics: dict[str, float], split: Split) -> dict[str, FoldSummary]:
    """The fold summaries a run logged (`m`, `m_std`, `m_ci_low`, `m_ci_high`, `m_foldJ`)."""
    out = {}
    for name in task_metric_names(split.task):
        if name not in metrics or (name in MEASURED and name != "training_time"):
            continue
        folds = [metrics[f"{name}_fold{j}"] for j in range(1, len(split.folds) + 1)
                 if f"{name}_fold{j}" in metrics] or [metrics[name]]
        out[name] = FoldSummary(metrics[name], metrics.get(f"{name}_std"),
                                metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high"),
                                folds)
    return out
