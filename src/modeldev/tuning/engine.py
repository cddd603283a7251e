"""Phase 2: plan the grid into staged groups, run them in parallel, log children, resume."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldev import events as ev
from modeldev.config import Settings
from modeldev.data import Source
from modeldev.errors import InputError
from modeldev.frameworks.base import Framework
from modeldev.frameworks.registry import get_framework
from modeldev.gpu import resolve_device
from modeldev.metrics import check_primary_metric, default_primary_metric, is_better
from modeldev.split import DEFAULT_SEED, Split, make_split
from modeldev.tracking import Tracker
from modeldev.tracking_children import ChildWriter
from modeldev.tuning import baseline as bl
from modeldev.tuning.child_logger import ChildLogger
from modeldev.tuning.executor import TaskOutcome, TrialTask, default_workers, run_dask, run_local
from modeldev.tuning.grid import combination_hash, expand_grid, validate_grid
from modeldev.tuning.trial import TrialShared, evaluate_group, group_payload
from modeldev.validation import prepare


@dataclass
class TuneRequest:
    """What an analyst asks of Phase 2."""

    training_run_id: str | None = None
    framework: str | None = None
    source: Source | None = None
    target: str | None = None
    task: str = "auto"
    grid: dict[str, Any] | None = None
    primary_metric: str | None = None
    workers: int | None = None
    dask_scheduler: str | None = None
    trial_timeout: float | None = None
    resume: str | None = None
    seed: int = DEFAULT_SEED
    device: str = "auto"
    experiment: str | None = None


@dataclass
class Plan:
    """The combinations of a grid, their hashes and the tasks that evaluate the missing ones."""

    combos: list[dict[str, Any]]
    hashes: list[str]
    tasks: list[TrialTask] = field(default_factory=list)


def make_plan(grid: dict[str, list], adapter: Framework, done: set[str]) -> Plan:
    """Group missing combinations by everything but the prefix parameter (staged evaluation)."""
    combos = expand_grid(grid)
    hashes = [combination_hash(c) for c in combos]
    prefix = adapter.prefix_param if adapter.prefix_param in grid else None
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for combo, h in zip(combos, hashes, strict=True):
        if h in done:
            continue
        rest = {k: v for k, v in combo.items() if k != prefix}
        groups.setdefault(combination_hash(rest), []).append((h, combo))
    tasks = []
    for key, members in groups.items():
        fit_params = dict(members[0][1])
        if prefix:
            fit_params[prefix] = max(int(p[prefix]) for _, p in members)
        tasks.append(TrialTask(key=key, payload=group_payload(fit_params, prefix, members)))
    tasks.sort(key=lambda t: -len(t.payload["members"]))  # big groups first: better packing
    return Plan(combos=combos, hashes=hashes, tasks=tasks)


def resolve_baseline(request: TuneRequest, tracker: Tracker) -> bl.Baseline:
    """The Phase 1 session (given, resumed or latest) or a fresh data source with a framework."""
    if request.source is not None:
        if not request.framework:
            raise InputError("--framework is required when tuning a data source directly.")
        data = prepare(request.source.frame, request.target or request.source.target,
                       request.task)
        metric = request.primary_metric or default_primary_metric(data.task)
        return bl.Baseline(None, None, request.source, data.target, data.task, request.seed,
                           get_framework(request.framework, data.task).name, metric)
    run_id = request.training_run_id or bl.latest_training_run(tracker)
    return bl.from_training_run(tracker, run_id, request.framework, request.primary_metric)


def prepare_split(base: bl.Baseline, settings: Settings) -> Split:
    """The same seeded split Phase 1 used."""
    data = prepare(base.source.frame, base.target, base.task, settings.limits)
    return make_split(data, base.seed)


def done_hashes(tracker: Tracker, parent_run_id: str) -> dict[str, Any]:
    """Children of a tuning parent that already hold a result, by combination hash."""
    done = {}
    for run in tracker.child_runs(parent_run_id):
        h = run.data.tags.get("combination_hash")
        if h and run.info.status in ("FINISHED", "FAILED"):
            done[h] = run
    return done


def execute(plan: Plan, shared: TrialShared, request: TuneRequest, workers: int,
            should_stop: Callable[[], bool]) -> Any:
    """Outcomes of the plan's tasks, from local processes or a Dask cluster."""
    address = request.dask_scheduler or os.environ.get("MODELDEV_DASK_SCHEDULER")
    if address:
        return run_dask(plan.tasks, evaluate_group, shared, address, request.trial_timeout,
                        should_stop)
    return run_local(plan.tasks, evaluate_group, shared, workers, shared.threads,
                     request.trial_timeout, should_stop)


@dataclass
class Progress:
    """Running totals for progress events and the summary."""

    total: int
    done: int = 0
    failed: int = 0
    best: float | None = None
    best_params: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)

    def eta_seconds(self, remaining_before: int) -> float | None:
        """Seconds left at the average pace of this run so far."""
        ran = self.done - (self.total - remaining_before)
        if ran <= 0:
            return None
        return (time.time() - self.started) / ran * (self.total - self.done)


def log_outcome(logger: ChildLogger, ctx: dict[str, Any], outcome: TaskOutcome,
                progress: Progress) -> None:
    """Queue one child run per combination of a finished task and count it."""
    members = dict(outcome_members(ctx["tasks"], outcome.key))
    by_hash = {r["hash"]: r for r in (outcome.result or [])}
    for h, params in members.items():
        record = {"hash": h, "params": params, "index": ctx["index"][h]}
        result = by_hash.get(h)
        if result is None:
            record.update(status="FAILED", metrics={}, error=outcome.error or "no result")
        else:
            record.update(status="FINISHED", metrics=result["metrics"], error=None)
        logger.submit((record, child_tags(ctx, record, outcome, result)))
        _count(progress, record, ctx["metric"])


def outcome_members(tasks: dict[str, TrialTask], key: str) -> list[tuple[str, dict[str, Any]]]:
    """The (hash, params) combinations a task evaluated."""
    return tasks[key].payload["members"]


def _count(progress: Progress, record: dict[str, Any], metric: str) -> None:
    progress.done += 1
    if record["status"] != "FINISHED":
        progress.failed += 1
        return
    value = record["metrics"].get(metric)
    if value is not None and is_better(value, progress.best, metric):
        progress.best, progress.best_params = value, record["params"]


def child_tags(ctx: dict[str, Any], record: dict[str, Any], outcome: TaskOutcome,
               result: dict[str, Any] | None) -> dict[str, str]:
    """The tags of one trial's child run."""
    tags = {"combination_hash": record["hash"], "framework": ctx["framework"],
            "modeldev.kind": "tuning_trial", "params_json": json.dumps(record["params"]),
            "device": (result or {}).get("device", "cpu")}
    if result and result.get("staged_from"):
        tags["staged_from"] = str(result["staged_from"])
    if record["error"]:
        tags["error"] = record["error"]
        tags["timed_out"] = str(outcome.timed_out).lower()
    return tags


def write_children(tracker: Tracker, writer: ChildWriter, ctx: dict[str, Any],
                   batch: list[tuple[dict[str, Any], dict[str, str]]]) -> None:
    """Write a batch of finished children, each with its params, metrics, tags and status."""
    children = [tracker.child_run(f"trial_{record['index']:04d}", ctx["parent_run_id"], tags,
                                  record["params"], record["metrics"], record["status"])
                for record, tags in batch]
    tracker.write_children(writer, children)


def run_trials(plan: Plan, shared: TrialShared, request: TuneRequest, tracker: Tracker,
               ctx: dict[str, Any], on_event: ev.EventSink,
               should_stop: Callable[[], bool]) -> None:
    """Execute the plan; each outcome's children are logged by a background thread.

    Every queued child is in MLflow when this returns or raises Cancelled after a stop
    request (a cancel stops new work, not the logging of finished work); when an error or a
    signal ends the loop, the queued children get up to ABANDON_AFTER_S to be logged.
    """
    workers = request.workers or default_workers()
    remaining = sum(len(t.payload["members"]) for t in plan.tasks)
    progress = Progress(total=len(plan.combos), done=len(plan.combos) - remaining)
    ctx["tasks"] = {t.key: t for t in plan.tasks}
    writer = tracker.child_writer(ctx["experiment_id"])
    tracker.set_tags(ctx["parent_run_id"], {"modeldev.child_writes": writer.path})
    with ChildLogger(lambda batch: write_children(tracker, writer, ctx, batch),
                     on_exit=writer.close) as logger:
        for outcome in execute(plan, shared, request, workers, should_stop):
            log_outcome(logger, ctx, outcome, progress)
            on_event(ev.make_event(ev.TRIAL_FINISHED, done=progress.done, total=progress.total,
                                   failed=progress.failed, best=progress.best,
                                   best_params=progress.best_params,
                                   eta_seconds=progress.eta_seconds(remaining),
                                   error=outcome.error))
    if should_stop():
        raise ev.Cancelled("cancelled")


def thread_budget(workers: int) -> int:
    """Threads per worker so that workers x threads does not exceed the cores."""
    return max(1, default_workers() // max(1, workers))


def device_for(request: TuneRequest, adapter: Framework) -> str:
    """The device trials use."""
    return resolve_device(request.device, adapter)[0]


def validated_grid(request: TuneRequest, adapter: Framework, task: str,
                   settings: Settings) -> dict[str, list]:
    """The request's grid (or the default), checked against the framework's schema."""
    grid = request.grid if request.grid is not None else adapter.default_grid(task)
    return validate_grid(grid, adapter.param_schema(task), adapter.name,
                         settings.limits.max_combinations)


def check_metric(base: bl.Baseline) -> None:
    """Refuse a primary metric that does not fit the task."""
    check_primary_metric(base.primary_metric, base.task)


def artifacts_root(settings: Settings) -> Path:
    """Where tuning folders go."""
    return settings.artifacts_dir
