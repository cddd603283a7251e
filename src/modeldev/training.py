"""Phase 1: train every framework's baseline on one split, score, track and pick the best."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldev import events as ev
from modeldev.config import Settings
from modeldev.data import Source, dataset_hash
from modeldev.errors import AllFailedError, InputError
from modeldev.frameworks.base import FitContext, FittedModel, Framework
from modeldev.frameworks.registry import frameworks_for
from modeldev.gpu import resolve_device
from modeldev.metrics import (
    check_primary_metric,
    compute_metrics,
    default_primary_metric,
    is_better,
)
from modeldev.preprocess import MISSING_POLICY
from modeldev.split import DEFAULT_SEED, Split, make_split
from modeldev.tracking import Tracker
from modeldev.validation import Prepared, prepare

INFERENCE_ROWS = 1_000
INFERENCE_REPEATS = 5


@dataclass
class TrainRequest:
    """What an analyst asks of Phase 1."""

    source: Source
    target: str | None = None
    task: str = "auto"
    frameworks: list[str] | None = None
    primary_metric: str | None = None
    seed: int = DEFAULT_SEED
    device: str = "auto"
    experiment: str | None = None
    project: str | None = None


@dataclass
class FrameworkResult:
    """One framework's run: status, validation and test metrics, and where it was logged."""

    name: str
    run_id: str
    status: str = "RUNNING"
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    fallback_reason: str | None = None
    model_uri: str | None = None
    error: str | None = None
    model: FittedModel | None = field(default=None, repr=False)


@dataclass
class TrainingResult:
    """The outcome of a Phase 1 session."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run_id: str
    task: str
    primary_metric: str
    runs: list[FrameworkResult]
    best: FrameworkResult | None
    artifacts_dir: Path
    notices: list[str]
    split: Split = field(repr=False)
    data: Prepared = field(repr=False)
    dataset_hash: str = ""


def experiment_name_for(request: TrainRequest) -> str:
    """`{project}_model`, the project taken from --project or the dataset's name."""
    if request.experiment:
        return request.experiment
    project = request.project or request.source.name or "modeldev"
    return f"{project}_model"


def run_phase1(request: TrainRequest, settings: Settings, on_event: ev.EventSink = ev.discard,
               should_stop: Callable[[], bool] = lambda: False) -> TrainingResult:
    """Validate, split, fit every framework, log everything and return the comparison."""
    from modeldev.phase1_outputs import write_phase1_outputs

    data = prepare(request.source.frame, request.target or request.source.target, request.task,
                   settings.limits)
    primary = request.primary_metric or default_primary_metric(data.task)
    check_primary_metric(primary, data.task)
    adapters = frameworks_for(data.task, request.frameworks)
    if not adapters:
        raise InputError(f"No framework applies to {data.task} tasks.")
    split = make_split(data, request.seed)
    tracker = Tracker(settings)
    exp_name = experiment_name_for(request)
    exp_id = tracker.experiment_id(exp_name)
    tracker.sweep_stale_runs([exp_id])
    ds_hash = dataset_hash(request.source.frame)
    parent = tracker.start_run(exp_id, "phase1_baselines", tags={
        "modeldev.kind": "phase1", "task": data.task, "dataset": request.source.name,
        "dataset_hash": ds_hash, "split_seed": str(request.seed), "primary_metric": primary})
    on_event(ev.make_event(ev.SESSION_STARTED, parent_run_id=parent, experiment_id=exp_id,
                           task=data.task, task_reason=data.task_reason, notices=data.notices,
                           frameworks=[a.name for a in adapters], sizes=split.sizes))
    result = TrainingResult(
        tracking_uri=tracker.tracking_uri, experiment_id=exp_id, experiment_name=exp_name,
        parent_run_id=parent, task=data.task, primary_metric=primary, runs=[], best=None,
        artifacts_dir=Path(), notices=list(data.notices), split=split, data=data,
        dataset_hash=ds_hash)
    try:
        for adapter in adapters:
            if should_stop():
                raise ev.Cancelled("cancelled")
            result.runs.append(_run_framework(adapter, request, result, tracker, on_event,
                                              should_stop))
        result.best = pick_best(result.runs, primary)
        result.artifacts_dir = write_phase1_outputs(result, request, tracker, settings)
    except BaseException:
        _end_open_runs(tracker, result, "KILLED")
        raise
    finished = [r for r in result.runs if r.status == "FINISHED"]
    tracker.end_run(parent, "FINISHED" if finished else "FAILED")
    on_event(ev.make_event(ev.SESSION_FINISHED, parent_run_id=parent,
                           best=result.best.name if result.best else None,
                           artifacts_dir=str(result.artifacts_dir)))
    if not finished:
        raise AllFailedError("Every framework failed: " + "; ".join(
            f"{r.name}: {r.error}" for r in result.runs))
    return result


def _end_open_runs(tracker: Tracker, result: TrainingResult, status: str) -> None:
    for run in result.runs:
        if run.status == "RUNNING":
            tracker.end_run(run.run_id, status)
    tracker.end_run(result.parent_run_id, status)


def pick_best(runs: list[FrameworkResult], primary: str) -> FrameworkResult | None:
    """The finished run with the best validation value of the primary metric."""
    best: FrameworkResult | None = None
    for run in runs:
        value = run.metrics.get(primary)
        if run.status == "FINISHED" and value is not None and is_better(
                value, best.metrics.get(primary) if best else None, primary):
            best = run
    return best


def _run_framework(adapter: Framework, request: TrainRequest, result: TrainingResult,
                   tracker: Tracker, on_event: ev.EventSink,
                   should_stop: Callable[[], bool]) -> FrameworkResult:
    device, device_reason = resolve_device(request.device, adapter)
    run_id = tracker.start_run(result.experiment_id, adapter.name, result.parent_run_id, tags={
        "framework": adapter.name, "task": result.task, "dataset_hash": result.dataset_hash,
        "split_seed": str(request.seed), "device": device, "modeldev.kind": "phase1_model"})
    run = FrameworkResult(name=adapter.name, run_id=run_id, device=device)
    on_event(ev.make_event(ev.FRAMEWORK_STARTED, framework=adapter.name, run_id=run_id,
                           device=device, device_reason=device_reason))
    try:
        ok, why = adapter.is_available()
        if not ok:
            raise RuntimeError(f"{adapter.name} is not available: {why}")
        _fit_and_log(adapter, run, result, tracker, on_event, should_stop, device, request.seed)
    except ev.Cancelled:
        raise
    except Exception as exc:  # one framework failing must not stop the others
        run.status, run.error = "FAILED", f"{type(exc).__name__}: {exc}"[:2000]
        tracker.set_tags(run_id, {"error": run.error,
                                  "error_traceback": traceback.format_exc()[-4000:]})
        tracker.end_run(run_id, "FAILED")
        on_event(ev.make_event(ev.FRAMEWORK_FAILED, framework=adapter.name, run_id=run_id,
                               error=run.error))
    return run


def _fit_and_log(adapter: Framework, run: FrameworkResult, result: TrainingResult,
                 tracker: Tracker, on_event: ev.EventSink, should_stop: Callable[[], bool],
                 device: str, seed: int) -> None:
    split = result.split
    ctx = FitContext(device=device, seed=seed, should_stop=should_stop,
                     on_progress=lambda e: on_event({**e, "time": time.time()}))
    started = time.perf_counter()
    model = adapter.fit(split, None, ctx)
    fit_seconds = time.perf_counter() - started
    if should_stop():
        raise ev.Cancelled("cancelled")
    run.model, run.params, run.device = model, dict(model.fit_params), model.device_used
    run.fallback_reason = model.fallback_reason
    run.metrics = score(model, split.X_val, split.y_val, split)
    run.test_metrics = score(model, split.X_test, split.y_test, split)
    run.model_uri, size_mb = tracker.log_model(run.run_id, model, split.X_train.head(5),
                                               list(adapter.requirements))
    timing = {"training_time": fit_seconds, "inference_time_ms": inference_ms(model, split.X_val),
              "model_size_mb": size_mb, "gpu_used": float(model.device_used == "gpu")}
    run.metrics.update(timing)
    run.test_metrics.update(timing)
    _log_run(tracker, run, split, model)
    run.status = "FINISHED"
    tracker.end_run(run.run_id, "FINISHED")
    on_event(ev.make_event(ev.FRAMEWORK_FINISHED, framework=adapter.name, run_id=run.run_id,
                           metrics=run.metrics, device=run.device, seconds=fit_seconds))


def _log_run(tracker: Tracker, run: FrameworkResult, split: Split, model: FittedModel) -> None:
    params = {**run.params, "missing_value_policy": MISSING_POLICY,
              "n_features_raw": split.X_train.shape[1], "n_features_used": len(split.plan.used),
              "imputed_columns": ",".join(map(str, split.plan.with_missing)) or "none",
              "n_train": len(split.X_train)}
    test = {f"test_{k}": v for k, v in run.test_metrics.items()
            if k not in ("training_time", "inference_time_ms", "model_size_mb", "gpu_used")}
    tags = {"device": run.device}
    if run.fallback_reason:
        tags["gpu_fallback_reason"] = run.fallback_reason
    tracker.log_batch(run.run_id, params=params, metrics={**run.metrics, **test}, tags=tags)
    for key in ("loss", "val_loss"):
        values = [h[key] for h in model.history if key in h]
        if values:
            tracker.log_metric_history(run.run_id, f"epoch_{key}", values)


def score(model: FittedModel, X: pd.DataFrame, y: np.ndarray, split: Split) -> dict[str, float]:
    """Standardized prediction metrics of `model` on (X, y); predictions computed once."""
    proba = model.predict_proba(X)
    if proba is not None:
        pred = proba.argmax(axis=1)
    else:
        pred = model.predict_encoded(X)
    return compute_metrics(split.task, y, pred, proba, split.n_classes or None)


def inference_ms(model: FittedModel, X: pd.DataFrame) -> float:
    """Median milliseconds to score 1,000 rows (sampled from X, fixed seed) after a warm-up."""
    rows = X.sample(n=INFERENCE_ROWS, replace=len(X) < INFERENCE_ROWS, random_state=0)
    model.predict(rows)
    times = []
    for _ in range(INFERENCE_REPEATS):
        started = time.perf_counter()
        model.predict(rows)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(times))
