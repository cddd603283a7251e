"""Phase 1: every framework's baseline scored on the same folds, logged, and the winner chosen.

The fits run as tasks on the local process pool (`phase1.fits`): one per framework and fold and
one final fit each, several side by side with capped threads. This process only dispatches,
collects and logs, so a framework that crashes its worker fails alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldev import events as ev
from modeldev.artifacts import new_run_dir, write_json
from modeldev.config import Settings
from modeldev.data.loading import Source, dataset_hash
from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.errors import AllFailedError, InputError
from modeldev.evaluation.decision import DecisionRule, check_calibration, decision_notices
from modeldev.evaluation.metrics import check_primary_metric, default_primary_metric
from modeldev.evaluation.selection import Selection, select_by_folds, select_by_rows
from modeldev.evaluation.thresholds import resolve_rule
from modeldev.execution.common import TaskOutcome, TrialTask, default_workers
from modeldev.execution.local import run_local
from modeldev.execution.start import start_worker_server
from modeldev.frameworks.base import Framework
from modeldev.frameworks.registry import frameworks_for
from modeldev.gpu import resolve_device
from modeldev.locks import resume_lock
from modeldev.phase1 import record
from modeldev.phase1.fits import FIT_STARTED, Phase1Shared, fit_task, plan_tasks
from modeldev.phase1.outputs import write_phase1_outputs
from modeldev.phase1.results import FrameworkResult, TrainingResult, TrainRequest
from modeldev.phase1.resume import (
    SPEC_FILE,
    reopen,
    restore_finished,
    resume_request,
    session_spec,
)
from modeldev.tracking import tags as T
from modeldev.tracking.tracker import Tracker

MAX_WORKERS = 4  # Phase 1 has few fits; more processes would mostly add imports and memory


@dataclass
class _Pending:
    """What has come back for one framework so far."""

    adapter: Framework
    run: FrameworkResult
    folds: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    started: bool = False


def run_phase1(request: TrainRequest, settings: Settings, on_event: ev.EventSink = ev.discard,
               should_stop: Callable[[], bool] = lambda: False) -> TrainingResult:
    """Validate, split, fit every framework on every fold, log everything, choose the winner
    (a request from `resume_request` finishes an earlier session: only its missing frameworks)."""
    with resume_lock(settings.workspace, request.resume):
        return _run(request, settings, Tracker(settings), on_event, should_stop)


def resume_phase1(parent_run_id: str, settings: Settings, source: Source | None = None,
                  framework_timeout: float | None = None, on_event: ev.EventSink = ev.discard,
                  should_stop: Callable[[], bool] = lambda: False) -> TrainingResult:
    """Finish an earlier session: the same data, split and options, only missing frameworks."""
    request = resume_request(Tracker(settings), parent_run_id, source, framework_timeout)
    return run_phase1(request, settings, on_event, should_stop)


def _run(request: TrainRequest, settings: Settings, tracker: Tracker, on_event: ev.EventSink,
         should_stop: Callable[[], bool]) -> TrainingResult:
    """run_phase1 once the request is complete (and a resumed session's lock is held)."""
    data = prepare(request.source.frame, request.target or request.source.target, request.task,
                   settings.limits)
    primary = request.primary_metric or default_primary_metric(data.task)
    check_primary_metric(primary, data.task)
    adapters = frameworks_for(data.task, request.frameworks)
    if not adapters:
        raise InputError(f"No framework applies to {data.task} tasks.")
    start_worker_server()  # its imports overlap the split and the session's opening
    split = make_split(data, request.seed, request.cv, request.repeats, request.class_weight)
    rule = DecisionRule(resolve_rule(request.threshold, data.task, split.y_dev, primary),
                        check_calibration(request.calibration))
    exp_name = request.experiment_name()
    ds_hash = dataset_hash(request.source.frame)
    exp_id, parent, folder = _open_session(request, settings, tracker, data.task, split, {
        T.KIND: T.KIND_PHASE1, T.TASK: data.task, T.DATASET: request.source.name,
        T.DATASET_HASH: ds_hash, T.SPLIT_SEED: str(request.seed), T.PRIMARY_METRIC: primary,
        T.CV_FOLDS: str(split.cv_folds), T.CV_REPEATS: str(split.repeats)})
    if not request.resume:
        write_json(folder / SPEC_FILE, session_spec(request, split,
                                                     [a.name for a in adapters], primary))
    notices = [*data.notices, *split.notices, *decision_notices(rule)]
    result = TrainingResult(
        tracking_uri=tracker.tracking_uri, experiment_id=exp_id, experiment_name=exp_name,
        parent_run_id=parent, task=data.task, primary_metric=primary, runs=[], best=None,
        artifacts_dir=folder, notices=notices, split=split, data=data, dataset_hash=ds_hash,
        decision=rule)
    try:
        done = restore_finished(tracker, parent, split, rule) if request.resume else {}
        on_event(ev.make_event(ev.SESSION_STARTED, parent_run_id=parent, experiment_id=exp_id,
                               task=data.task, task_reason=data.task_reason, notices=notices,
                               frameworks=[a.name for a in adapters], sizes=split.sizes,
                               cv_folds=split.cv_folds, repeats=split.repeats,
                               resumed=sorted(done)))
        pending = _start_runs(adapters, request, result, tracker, on_event, done)
        _fit_all(pending, request, split, tracker, (primary, rule), on_event, should_stop)
        result.selection = choose(result.runs, split, primary, request.equivalence_margin)
        result.best = next((r for r in result.runs if r.name == result.selection.winner), None)
        write_phase1_outputs(result, request, tracker, settings)
    except BaseException:
        _end_open_runs(tracker, result, "KILLED")
        raise
    finished = [r for r in result.runs if r.status == "FINISHED"]
    tracker.end_run(parent, "FINISHED" if finished else "FAILED")
    on_event(ev.make_event(ev.SESSION_FINISHED, parent_run_id=parent,
                           best=result.best.name if result.best else None,
                           top_tier=result.top_tier, artifacts_dir=str(result.artifacts_dir)))
    if not finished:
        raise AllFailedError("Every framework failed: " + "; ".join(
            f"{r.name}: {r.error}" for r in result.runs))
    return result


def choose(runs: list[FrameworkResult], split: Split, primary: str,
           margin: float | None = None) -> Selection:
    """The winner, its tier and its equivalents among the finished runs, on their shared folds
    or rows (`margin`: the equivalence margin, None for the default)."""
    done = [r for r in runs if r.status == "FINISHED"]
    if split.holdout:
        y_valid = split.fold_valid(0)[1]
        outputs = {r.name: r.valid_outputs for r in done if r.valid_outputs is not None}
        cuts = {r.name: r.valid_thresholds for r in done if r.valid_outputs is not None}
        return select_by_rows(outputs, y_valid, split.task, primary, split.n_classes or None,
                              split.seed, margin, cuts)
    n_train, n_valid = split.fold_sizes
    return select_by_folds({r.name: r.cv[primary].folds for r in done}, primary, n_train,
                           n_valid, split.repeats, margin, split.seed)


def _open_session(request: TrainRequest, settings: Settings, tracker: Tracker, task: str,
                  split: Split, tags: dict[str, str]) -> tuple[str, str, Path]:
    """The session's experiment, parent run and folder: new, or the resumed session's."""
    if request.resume:
        exp_id, folder = reopen(tracker, request.resume)
        return exp_id, request.resume, folder
    exp_id = tracker.experiment_id(request.experiment_name())
    tracker.sweep_stale_runs([exp_id])
    parent = tracker.start_run(exp_id, "phase1_baselines", tags=tags)
    folder = new_run_dir(settings.artifacts_dir, "training", parent[:8])
    tracker.set_tags(parent, {T.ARTIFACTS_DIR: str(folder)})
    return exp_id, parent, folder


def _start_runs(adapters: list[Framework], request: TrainRequest, result: TrainingResult,
                tracker: Tracker, on_event: ev.EventSink,
                done: dict[str, FrameworkResult]) -> dict[str, _Pending]:
    """One RUNNING child run per framework still to fit (those `done` are kept as they are);
    one whose library is missing fails at once."""
    pending = {}
    for adapter in adapters:
        if adapter.name in done:
            result.runs.append(done[adapter.name])
            continue
        device, _ = resolve_device(request.device, adapter)
        run_id = tracker.start_run(result.experiment_id, adapter.name, result.parent_run_id, tags={
            T.FRAMEWORK: adapter.name, T.TASK: result.task, T.DATASET_HASH: result.dataset_hash,
            T.SPLIT_SEED: str(request.seed), T.DEVICE: device, T.KIND: T.KIND_PHASE1_MODEL,
            T.CV_FOLDS: str(result.split.cv_folds), T.CV_REPEATS: str(result.split.repeats)})
        run = FrameworkResult(name=adapter.name, run_id=run_id, device=device)
        result.runs.append(run)
        ok, why = adapter.is_available()
        if not ok:
            record.fail(run, f"RuntimeError: {adapter.name} is not available: {why}", tracker,
                        trace="")
            on_event(ev.make_event(ev.FRAMEWORK_FAILED, framework=adapter.name, run_id=run_id,
                                   error=run.error))
            continue
        pending[adapter.name] = _Pending(adapter, run)
    return pending


def _fit_all(pending: dict[str, _Pending], request: TrainRequest, split: Split,
             tracker: Tracker, judged: tuple[str, DecisionRule], on_event: ev.EventSink,
             should_stop: Callable[[], bool]) -> None:
    """Run every framework's tasks on the pool; log each framework as soon as it is done."""
    tasks = plan_tasks(list(pending), split)
    if not tasks:
        return
    workers = max(1, min(request.workers or min(default_workers(), MAX_WORKERS), len(tasks)))
    shared = Phase1Shared(split, {n: p.adapter for n, p in pending.items()},
                          {n: p.run.device for n, p in pending.items()},
                          threads=max(1, default_workers() // workers))

    def progress(event: dict[str, Any]) -> None:
        item = pending.get(str(event.get("framework")))
        if item is None:
            return
        if event.get("type") == FIT_STARTED:
            if not item.started:
                item.started = True
                on_event(ev.make_event(ev.FRAMEWORK_STARTED, framework=item.run.name,
                                       run_id=item.run.run_id, device=item.run.device))
        else:
            on_event(ev.make_event(str(event.get("type")),
                                   **{k: v for k, v in event.items() if k != "type"}))

    def failed(task: TrialTask) -> bool:  # a framework that failed once runs no more fits
        return pending[task.key.split(":", 1)[0]].run.status != "RUNNING"

    for outcome in run_local(tasks, fit_task, shared, workers, shared.threads,
                             request.framework_timeout, should_stop, progress, failed):
        _collect(pending, outcome, split, tracker, judged, on_event)
    if should_stop():
        raise ev.Cancelled("cancelled")


def _collect(pending: dict[str, _Pending], outcome: TaskOutcome, split: Split,
             tracker: Tracker, judged: tuple[str, DecisionRule], on_event: ev.EventSink) -> None:
    """File one task's outcome; a framework with every result in is logged and ended."""
    primary, rule = judged
    item = pending[outcome.key.split(":", 1)[0]]
    if item.run.status != "RUNNING":
        return  # already failed by an earlier task
    if outcome.error is not None:
        record.fail(item.run, outcome.error, tracker, outcome.traceback or "")
        on_event(ev.make_event(ev.FRAMEWORK_FAILED, framework=item.run.name,
                               run_id=item.run.run_id, error=item.run.error))
        return
    res = outcome.result
    if "metrics" in res:
        item.folds.append(res)
        on_event(ev.make_event(ev.FOLD_FINISHED, framework=item.run.name, fold=res["fold"],
                               folds=max(1, len(split.folds)), seconds=res["fit_seconds"],
                               value=res["metrics"].get(primary)))
    if "model" in res:
        item.final = res
    if item.final is not None and len(item.folds) == len(split.folds):
        item.folds.sort(key=lambda f: f["fold"])
        record.finish(item.run, item.adapter, item.folds, item.final, split, primary, tracker,
                      rule)
        on_event(ev.make_event(ev.FRAMEWORK_FINISHED, framework=item.run.name,
                               run_id=item.run.run_id, metrics=item.run.metrics,
                               device=item.run.device, warning=item.run.warning,
                               decision_threshold=item.run.decision_threshold,
                               seconds=sum(f["fit_seconds"] for f in item.folds)))


def _end_open_runs(tracker: Tracker, result: TrainingResult, status: str) -> None:
    for run in result.runs:
        if run.status == "RUNNING":
            tracker.end_run(run.run_id, status)
    tracker.end_run(result.parent_run_id, status)
