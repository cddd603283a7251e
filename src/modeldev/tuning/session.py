"""Phase 2 end to end: resolve the baseline, plan, run, log, analyse, refit, write outputs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldev import events as ev
from modeldev.artifacts import new_run_dir, write_json
from modeldev.config import Settings
from modeldev.data import dataset_hash
from modeldev.errors import InputError
from modeldev.frameworks.registry import get_framework
from modeldev.tracking import Tracker
from modeldev.tracking_support import owner_tags
from modeldev.tuning import engine as en
from modeldev.tuning.baseline import reload_source
from modeldev.tuning.grid import grid_to_text
from modeldev.tuning.trial import TrialShared


@dataclass
class TuneResult:
    """The outcome of a tuning session (the CLI's --json object)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    framework: str
    primary_metric: str
    n_combinations: int
    n_completed: int
    n_failed: int
    best_params: dict[str, Any] | None
    baseline_metric_value: float | None
    final_metric_value: float | None
    improvement_pct: float | None
    artifacts_dir: Path
    wall_seconds: float
    note: str = ""
    summary_run_id: str | None = None
    model_uri: str | None = None


def _open_parent(request: en.TuneRequest, tracker: Tracker, base: Any, exp_id: str,
                 n_combos: int) -> tuple[str, Path, set[str]]:
    """The tuning parent run and folder: new, or the resumed one with its finished hashes."""
    if request.resume:
        return _reopen_parent(request.resume, tracker)
    parent = tracker.start_run(exp_id, f"{base.framework}_tuning_parent", tags={
        "modeldev.kind": "tuning", "framework": base.framework, "task": base.task,
        "primary_metric": base.primary_metric, "phase1_run_id": base.training_run_id or "",
        "n_combinations": str(n_combos), "note": base.note})
    folder = new_run_dir(en.artifacts_root(tracker.settings), "tuning", parent[:8])
    tracker.set_tags(parent, {"artifacts_dir": str(folder)})
    return parent, folder, set()


def _reopen_parent(parent: str, tracker: Tracker) -> tuple[str, Path, set[str]]:
    """Resume: sweep stale runs, refuse a live parent, drop the children the rerun replaces.

    A child without a result (a trial killed between creating and ending its run, marked
    KILLED by the sweep) is deleted, as is an earlier `training_summary`: the rerun logs them
    again, so each combination keeps exactly one child. The parent's owner tags become this
    process's, so a sweep by another session while this one runs leaves it alone.
    """
    run = _tuning_parent(tracker, parent)
    tracker.sweep_stale_runs([run.info.experiment_id])
    if tracker.get_run(parent).info.status == "RUNNING":
        raise InputError(f"Tuning run {parent} is still running (its process is alive, or on "
                         "another machine); stop it before resuming.")
    done = en.done_hashes(tracker, parent)
    keep = {child.info.run_id for child in done.values()}
    dropped = 0
    for child in tracker.child_runs(parent):
        kind = child.data.tags.get("modeldev.kind")
        if (kind == "tuning_trial" and child.info.run_id not in keep) or \
                kind == "tuning_summary":
            tracker.client.delete_run(child.info.run_id)
            dropped += 1
    tracker.client.update_run(parent, "RUNNING")
    owner = {k: v for k, v in owner_tags().items() if k.startswith("modeldev.")}
    tracker.set_tags(parent, {**owner, "modeldev.resumed_at": str(int(time.time())),
                              "modeldev.resume_dropped": str(dropped)})
    return parent, Path(run.data.tags["artifacts_dir"]), set(done)


def _tuning_parent(tracker: Tracker, run_id: str) -> Any:
    run = tracker.get_run(run_id)
    if run.data.tags.get("modeldev.kind") != "tuning":
        raise InputError(f"Run {run_id} is not a tuning parent run.")
    return run


def _spec_for_resume(request: en.TuneRequest, tracker: Tracker) -> en.TuneRequest:
    """On resume, the grid and options of the original session (its tuning_spec.json)."""
    if not request.resume:
        return request
    run = _tuning_parent(tracker, request.resume)
    spec = json.loads((Path(run.data.tags["artifacts_dir"]) / "tuning_spec.json").read_text())
    source = None
    if not spec["training_run_id"]:  # tuned a data source directly: the same data again
        source = _resume_source(request, spec)
    return en.TuneRequest(
        training_run_id=spec["training_run_id"], framework=spec["framework"], source=source,
        target=spec.get("target"), task=spec.get("task", "auto"),
        grid=spec["grid"], primary_metric=spec["primary_metric"], workers=request.workers,
        dask_scheduler=request.dask_scheduler, trial_timeout=request.trial_timeout,
        resume=request.resume, seed=spec["seed"], device=request.device)


def _resume_source(request: en.TuneRequest, spec: dict[str, Any]) -> Any:
    """The data a direct-source tuning used: the one passed again, else reloaded from its origin."""
    data = spec.get("dataset") or {}
    if request.source is not None:
        source = request.source
    elif data.get("origin"):
        source = reload_source({"dataset": data})
    else:
        raise InputError("This tuning run tuned an in-memory table: pass the same data again "
                         "to resume it.")
    if data.get("hash") and dataset_hash(source.frame) != data["hash"]:
        raise InputError("The data given differs from the data this tuning run started with "
                         "(its hash differs).")
    return source


def run_tuning(request: en.TuneRequest, settings: Settings, on_event: ev.EventSink = ev.discard,
               should_stop: Callable[[], bool] = lambda: False) -> TuneResult:
    """Tune the best (or named) framework over its grid; everything logged and written."""
    from modeldev.tuning.outputs import finish_tuning

    started = time.time()
    tracker = Tracker(settings)
    request = _spec_for_resume(request, tracker)
    base = en.resolve_baseline(request, tracker)
    en.check_metric(base)
    adapter = get_framework(base.framework, base.task)
    grid = en.validated_grid(request, adapter, base.task, settings)
    split = en.prepare_split(base, settings)
    if request.resume:  # children go where the parent is
        exp_id = tracker.get_run(request.resume).info.experiment_id
    else:
        exp_id = base.experiment_id or tracker.experiment_id(
            request.experiment or f"{base.source.name}_model")
    n_combos = len(en.expand_grid(grid))
    parent, folder, done = _open_parent(request, tracker, base, exp_id, n_combos)
    if not request.resume:
        write_json(folder / "tuning_spec.json", {
            "training_run_id": base.training_run_id, "framework": base.framework,
            "grid": grid, "primary_metric": base.primary_metric, "seed": base.seed,
            "target": base.target, "task": base.task,
            "dataset": {"name": base.source.name, "origin": base.source.origin,
                        "hash": dataset_hash(base.source.frame)}})
        (folder / "grid.json").write_text(grid_to_text(grid))
    plan = en.make_plan(grid, adapter, done)
    workers = request.workers or en.default_workers()
    shared = TrialShared(base.framework, split, en.device_for(request, adapter),
                         en.thread_budget(workers))
    ctx = {"experiment_id": exp_id, "parent_run_id": parent, "framework": base.framework,
           "metric": base.primary_metric,
           "index": {h: i for i, h in enumerate(plan.hashes)}}
    on_event(ev.make_event(ev.SESSION_STARTED, parent_run_id=parent, framework=base.framework,
                           total=n_combos, skipped=len(done), tasks=len(plan.tasks),
                           note=base.note, workers=workers))
    try:
        en.run_trials(plan, shared, request, tracker, ctx, on_event, should_stop)
        result = finish_tuning(tracker, settings, base, split, grid, parent, folder, started,
                               shared)
    except (ev.Cancelled, KeyboardInterrupt):
        tracker.end_run(parent, "KILLED")
        raise
    except Exception:
        tracker.end_run(parent, "FAILED")
        raise
    on_event(ev.make_event(ev.SESSION_FINISHED, parent_run_id=parent,
                           improvement_pct=result.improvement_pct))
    return result
