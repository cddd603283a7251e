"""Phase 2 end to end: resolve the baseline, plan, run, log, analyse, refit, write outputs."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeldev import events as ev
from modeldev.artifacts import new_run_dir, write_json
from modeldev.config import Settings, default_experiment_name
from modeldev.data.loading import dataset_hash, source_again, source_files
from modeldev.data.split import Split, make_split
from modeldev.data.validation import prepare
from modeldev.errors import InputError, StoreUnavailable, TrackingError
from modeldev.evaluation.metrics import check_primary_metric
from modeldev.execution.common import default_workers
from modeldev.execution.start import start_worker_server
from modeldev.frameworks.registry import get_framework
from modeldev.gpu import resolve_device
from modeldev.locks import resume_lock
from modeldev.tracking import tags as T
from modeldev.tracking.folders import DATA_DIR, local_folder, session_folder
from modeldev.tracking.records import RunRecord
from modeldev.tracking.registry import registered_name
from modeldev.tracking.resumes import refuse_live, session_run, take_over
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.baseline import Baseline, decision_rule, resolve_baseline
from modeldev.tuning.finish import finish_tuning
from modeldev.tuning.grid import combination_hash, expand_grid, grid_to_text, validate_grid
from modeldev.tuning.journal import RESULTS_FILE, read_results
from modeldev.tuning.naming import tuning_parent_name
from modeldev.tuning.plan import make_plan
from modeldev.tuning.trial import TrialShared
from modeldev.tuning.trials import TrialRun, log_kept_results, run_trials, thread_budget
from modeldev.tuning.types import TrialContext, TuneRequest, TuneResult


def done_hashes(tracker: Tracker, parent_run_id: str) -> dict[str, RunRecord]:
    """Children of a tuning parent that already hold a result, by combination hash."""
    done = {}
    for run in tracker.child_runs(parent_run_id):
        h = run.tags.get(T.COMBINATION_HASH)
        if h and run.status in ("FINISHED", "FAILED"):
            done[h] = run
    return done


def _open_parent(request: TuneRequest, tracker: Tracker, base: Baseline, exp_id: str,
                 n_combos: int, split: Split) -> tuple[str, Path, set[str]]:
    """The tuning parent run and folder: new, or the resumed one with its finished hashes."""
    if request.resume:
        return _reopen_parent(request.resume, tracker)
    parent = tracker.start_run(exp_id, tuning_parent_name(base.framework), tags={
        T.KIND: T.KIND_TUNING, T.FRAMEWORK: base.framework, T.TASK: base.task,
        T.PRIMARY_METRIC: base.primary_metric, T.PHASE1_RUN_ID: base.training_run_id or "",
        T.N_COMBINATIONS: str(n_combos), T.NOTE: base.note, T.CV_FOLDS: str(split.cv_folds),
        T.CV_REPEATS: str(split.repeats), T.FOLD_ROWS: ",".join(map(str, split.fold_sizes))})
    folder = new_run_dir(tracker.settings.artifacts_dir, "tuning", parent[:8])
    tracker.set_tags(parent, {T.ARTIFACTS_DIR: str(folder)})
    return parent, folder, set()


def _reopen_parent(parent: str, tracker: Tracker) -> tuple[str, Path, set[str]]:
    """Resume: sweep stale runs, refuse a live parent, drop the children the rerun replaces.

    A child without a result (a trial killed between creating and ending its run, marked
    KILLED by the sweep) is deleted, as is an earlier `training_summary`: the rerun logs them
    again, so each combination keeps exactly one child. The parent's owner tags become this
    process's, so a sweep by another session while this one runs leaves it alone.
    """
    run = _tuning_parent(tracker, parent)
    refuse_live(tracker, run, "Tuning run")
    done = done_hashes(tracker, parent)
    keep = {child.run_id for child in done.values()}
    dropped = 0
    for child in tracker.child_runs(parent):
        kind = child.tags.get(T.KIND)
        if (kind == T.KIND_TRIAL and child.run_id not in keep) or kind == T.KIND_SUMMARY:
            tracker.delete_run(child.run_id)
            dropped += 1
    take_over(tracker, parent, {T.RESUME_DROPPED: str(dropped)})
    return parent, _resume_folder(tracker, run), set(done)


def _resume_folder(tracker: Tracker, run: RunRecord) -> Path:
    """The folder a resumed tuning writes into: its own, or (started on another machine) a new
    one here holding the files its first part logged, named by the parent's tag from now on."""
    here = local_folder(run.tags)
    if here is not None:
        return here
    fetched = session_folder(tracker, run)
    folder = new_run_dir(tracker.settings.artifacts_dir, "tuning", run.run_id[:8])
    if fetched is not None:
        shutil.copytree(fetched, folder, dirs_exist_ok=True)
    tracker.set_tags(run.run_id, {T.ARTIFACTS_DIR: str(folder)})
    return folder


def _tuning_parent(tracker: Tracker, run_id: str) -> RunRecord:
    return session_run(tracker, run_id, T.KIND_TUNING, "a tuning parent run")


def _spec_for_resume(request: TuneRequest, tracker: Tracker) -> TuneRequest:
    """On resume, the grid and options of the original session (its tuning_spec.json)."""
    if not request.resume:
        return request
    run = _tuning_parent(tracker, request.resume)
    folder = session_folder(tracker, run)
    try:
        spec = json.loads((folder / "tuning_spec.json").read_text()) if folder else None
    except (OSError, ValueError):
        spec = None
    if folder is None or spec is None:
        raise InputError(f"Tuning run {run.run_id} has no tuning_spec.json here or in MLflow "
                         "(still running elsewhere, or started before specs were logged).")
    source = None
    if not spec["training_run_id"]:  # tuned a data source directly: the same data again
        data = spec.get("dataset") or {}
        source = source_again(request.source, data.get("origin"), data.get("hash", ""),
                              "tuning run", folder / DATA_DIR)
    return TuneRequest(
        training_run_id=spec["training_run_id"], framework=spec["framework"], source=source,
        target=spec.get("target"), task=spec.get("task", "auto"),
        grid=spec["grid"], primary_metric=spec["primary_metric"], workers=request.workers,
        dask_scheduler=request.dask_scheduler, trial_timeout=request.trial_timeout,
        resume=request.resume, seed=spec["seed"], device=request.device,
        register_as=request.register_as,
        **(_direct_options(spec) if not spec["training_run_id"] else {}))


def _direct_options(spec: dict[str, Any]) -> dict[str, Any]:
    """A direct tuning's own evaluation options, from its spec (older specs: as they ran)."""
    return {"cv": spec.get("cv_folds", 0), "repeats": spec.get("repeats", 1),
            "threshold": spec.get("threshold", 0.5), "calibration": spec.get("calibration"),
            "class_weight": spec.get("class_weight")}


def _split(base: Baseline, settings: Settings) -> Split:
    """The same seeded split Phase 1 used."""
    data = prepare(base.source.frame, base.target, base.task, settings.limits)
    return make_split(data, base.seed, base.cv_folds, base.repeats, base.class_weight)


def _write_spec(folder: Path, base: Baseline, grid: dict[str, list], split: Split) -> None:
    """What a resume needs to run the same tuning again: tuning_spec.json and grid.json."""
    write_json(folder / "tuning_spec.json", {
        "training_run_id": base.training_run_id, "framework": base.framework,
        "grid": grid, "primary_metric": base.primary_metric, "seed": base.seed,
        "cv_folds": split.cv_folds, "repeats": split.repeats, "threshold": base.threshold,
        "calibration": base.calibration, "class_weight": split.class_weight,
        "target": base.target, "task": base.task,
        "dataset": {"name": base.source.name, "origin": base.source.origin,
                    "hash": dataset_hash(base.source.frame)}})
    (folder / "grid.json").write_text(grid_to_text(grid))


def _experiment(request: TuneRequest, tracker: Tracker, base: Baseline) -> str:
    """The experiment the tuning logs to: the resumed parent's, Phase 1's, or by name."""
    if request.resume:  # children go where the parent is
        return tracker.get_run(request.resume).experiment_id
    return base.experiment_id or tracker.experiment_id(
        request.experiment or default_experiment_name(base.source.name))


def _store_away(exc: StoreUnavailable, folder: Path, parent: str) -> StoreUnavailable:
    """The one sentence for a store that went away: which, for how long, where results wait."""
    n = len(read_results(folder))
    return StoreUnavailable(f"{exc.what}; the results of the {n} combinations finished so far "
                            f"are kept in {folder / RESULTS_FILE}; rerun with --resume {parent} "
                            "once it is back.", exc.what)


def run_tuning(request: TuneRequest, settings: Settings, on_event: ev.EventSink = ev.discard,
               should_stop: Callable[[], bool] = lambda: False) -> TuneResult:
    """Tune the best (or named) framework over its grid; everything logged and written."""
    with resume_lock(settings.workspace, request.resume):
        return _run_tuning(request, settings, on_event, should_stop)


def _run_tuning(request: TuneRequest, settings: Settings, on_event: ev.EventSink,
                should_stop: Callable[[], bool]) -> TuneResult:
    """run_tuning while a resumed parent's lock is held."""
    started = time.time()
    if request.register_as:  # a name MLflow would refuse is refused before anything runs
        registered_name(request.register_as)
    tracker = Tracker(settings)
    request = _spec_for_resume(request, tracker)
    base = resolve_baseline(request, tracker)
    check_primary_metric(base.primary_metric, base.task)
    adapter = get_framework(base.framework, base.task)
    grid = validate_grid(request.grid if request.grid is not None
                         else adapter.default_grid(base.task), adapter.param_schema(base.task),
                         adapter.name, settings.limits.max_combinations)
    if not (request.dask_scheduler or settings.dask_scheduler):
        start_worker_server()  # its imports overlap the split and the parent run's opening
    split = _split(base, settings)
    exp_id = _experiment(request, tracker, base)
    hashes = [combination_hash(c) for c in expand_grid(grid)]
    n_combos = len(hashes)
    parent, folder, done = _open_parent(request, tracker, base, exp_id, n_combos, split)
    kept: set[str] = set()
    if not request.resume:
        _write_spec(folder, base, grid, split)
        tracker.log_artifacts(parent, folder)  # a resume on another machine reads them back
        if base.training_run_id is None and not settings.uses_sqlite:  # and the data it tuned
            for path in source_files(base.source.origin):
                tracker.log_artifact(parent, path, DATA_DIR)
    else:  # results finished but never logged (the store was away): logged now, not rerun
        try:
            kept = log_kept_results(tracker, exp_id, parent, folder, done, set(hashes))
            tracker.set_tags(parent, {T.RESUME_KEPT: str(len(kept))})
        except StoreUnavailable as exc:
            raise _store_away(exc, folder, parent) from exc
        done |= kept
    plan = make_plan(grid, adapter, done, len(split.folds), adapter.baseline_params(base.task))
    workers = request.workers or default_workers()
    shared = TrialShared(base.framework, split, resolve_device(request.device, adapter)[0],
                         thread_budget(workers), decision_rule(base, split.y_dev))
    ctx = TrialContext(experiment_id=exp_id, parent_run_id=parent, framework=base.framework,
                       metric=base.primary_metric,
                       index={h: i for i, h in enumerate(plan.hashes)}, folder=folder)
    how = TrialRun(workers=workers, trial_timeout=request.trial_timeout,
                   dask_scheduler=request.dask_scheduler or settings.dask_scheduler,
                   should_stop=should_stop)
    on_event(ev.make_event(ev.SESSION_STARTED, parent_run_id=parent, framework=base.framework,
                           total=n_combos, skipped=len(done), kept=len(kept),
                           tasks=len(plan.tasks),
                           note=base.note, workers=workers, cv_folds=split.cv_folds,
                           repeats=split.repeats))
    try:
        baseline_folds = run_trials(plan, shared, how, tracker, ctx, on_event)
        result = finish_tuning(tracker, settings, base, split, grid, parent, folder, started,
                               shared, baseline_folds, request.register_as)
    except (ev.Cancelled, KeyboardInterrupt):
        tracker.end_run(parent, "KILLED")
        raise
    except StoreUnavailable as exc:  # the parent is swept to KILLED once its process is gone
        raise _store_away(exc, folder, parent) from exc
    except Exception:
        with contextlib.suppress(TrackingError):  # the first error is the one to report
            tracker.end_run(parent, "FAILED")
        raise
    on_event(ev.make_event(ev.SESSION_FINISHED, parent_run_id=parent,
                           improvement_pct=result.improvement_pct))
    return result
