"""Phase 1: train every framework's baseline on one split, score, track and pick the best."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

from modeldev import events as ev
from modeldev.config import Settings
from modeldev.data.loading import dataset_hash
from modeldev.data.preprocess import MISSING_POLICY
from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.errors import AllFailedError, InputError
from modeldev.evaluation.metrics import check_primary_metric, default_primary_metric, is_better
from modeldev.evaluation.scoring import inference_ms, score
from modeldev.frameworks.base import FitContext, FittedModel, Framework
from modeldev.frameworks.registry import frameworks_for
from modeldev.gpu import resolve_device
from modeldev.phase1.outputs import write_phase1_outputs
from modeldev.phase1.results import FrameworkResult, TrainingResult, TrainRequest
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker


def run_phase1(request: TrainRequest, settings: Settings, on_event: ev.EventSink = ev.discard,
               should_stop: Callable[[], bool] = lambda: False) -> TrainingResult:
    """Validate, split, fit every framework, log everything and return the comparison."""
    data = prepare(request.source.frame, request.target or request.source.target, request.task,
                   settings.limits)
    primary = request.primary_metric or default_primary_metric(data.task)
    check_primary_metric(primary, data.task)
    adapters = frameworks_for(data.task, request.frameworks)
    if not adapters:
        raise InputError(f"No framework applies to {data.task} tasks.")
    split = make_split(data, request.seed)
    tracker = Tracker(settings)
    exp_name = request.experiment_name()
    exp_id = tracker.experiment_id(exp_name)
    tracker.sweep_stale_runs([exp_id])
    ds_hash = dataset_hash(request.source.frame)
    parent = tracker.start_run(exp_id, "phase1_baselines", tags={
        T.KIND: T.KIND_PHASE1, T.TASK: data.task, T.DATASET: request.source.name,
        T.DATASET_HASH: ds_hash, T.SPLIT_SEED: str(request.seed), T.PRIMARY_METRIC: primary})
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
        T.FRAMEWORK: adapter.name, T.TASK: result.task, T.DATASET_HASH: result.dataset_hash,
        T.SPLIT_SEED: str(request.seed), T.DEVICE: device, T.KIND: T.KIND_PHASE1_MODEL})
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
        tracker.set_tags(run_id, {T.ERROR: run.error,
                                  T.ERROR_TRACEBACK: traceback.format_exc()[-4000:]})
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
    run.metrics = score(model, split.X_val, split.y_val)
    run.test_metrics = score(model, split.X_test, split.y_test)
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
    tags = {T.DEVICE: run.device}
    if run.fallback_reason:
        tags[T.GPU_FALLBACK_REASON] = run.fallback_reason
    tracker.log_batch(run.run_id, params=params, metrics={**run.metrics, **test}, tags=tags)
    for key in ("loss", "val_loss"):
        values = [h[key] for h in model.history if key in h]
        if values:
            tracker.log_metric_history(run.run_id, f"epoch_{key}", values)
