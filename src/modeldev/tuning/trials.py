"""The trial loop: run the plan's tasks in parallel and log one child run per combination.

Outcomes arrive from local processes or a Dask cluster; each group's combinations are appended
to the tuning folder's results file (`journal`), then handed to a background thread
(`ChildLogger`) that writes their child runs, so trials never wait for MLflow and a store that
stops answering loses no finished result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldev import events as ev
from modeldev.evaluation.metrics import is_better
from modeldev.execution.common import TaskOutcome, default_workers
from modeldev.execution.dask import run_dask
from modeldev.execution.local import run_local
from modeldev.tracking import tags as T
from modeldev.tracking.children import ChildWriter
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.child_logger import MAX_BATCH, ChildLogger
from modeldev.tuning.folds import FoldCollector, GroupOutcome
from modeldev.tuning.journal import ResultsJournal, read_results
from modeldev.tuning.plan import Plan
from modeldev.tuning.trial import TrialShared, evaluate_group
from modeldev.tuning.types import TrialContext

Child = tuple[dict[str, Any], dict[str, str]]  # (trial record, its tags)


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

    def count(self, record: dict[str, Any], metric: str) -> None:
        """Count one logged combination and keep the best so far."""
        self.done += 1
        if record["status"] != "FINISHED":
            self.failed += 1
            return
        value = record["metrics"].get(metric)
        if value is not None and is_better(value, self.best, metric):
            self.best, self.best_params = value, record["params"]


def thread_budget(workers: int) -> int:
    """Threads per worker so that workers x threads does not exceed the cores."""
    return max(1, default_workers() // max(1, workers))


def execute(plan: Plan, shared: TrialShared, workers: int, dask_scheduler: str | None,
            trial_timeout: float | None,
            should_stop: Callable[[], bool]) -> Iterator[TaskOutcome]:
    """Outcomes of the plan's tasks, from local processes or a Dask cluster."""
    if dask_scheduler:
        return run_dask(plan.tasks, evaluate_group, shared, dask_scheduler, trial_timeout,
                        should_stop)
    return run_local(plan.tasks, evaluate_group, shared, workers, shared.threads,
                     trial_timeout, should_stop)


def outcome_children(plan: Plan, ctx: TrialContext, outcome: GroupOutcome) -> list[Child]:
    """One child (record and tags) per combination of a group whose folds are all in."""
    by_hash = {r["hash"]: r for r in outcome.results}
    children = []
    for h, params in plan.groups[outcome.key]:
        record: dict[str, Any] = {"hash": h, "params": params, "index": ctx.index[h]}
        result = by_hash.get(h)
        if result is None:
            record.update(status="FAILED", metrics={}, error=outcome.error or "no result")
        else:
            record.update(status="FINISHED", metrics=result["metrics"], error=None)
        children.append((record, child_tags(ctx, record, outcome, result)))
    return children


def child_tags(ctx: TrialContext, record: dict[str, Any], outcome: GroupOutcome,
               result: dict[str, Any] | None) -> dict[str, str]:
    """The tags of one trial's child run."""
    tags = {T.COMBINATION_HASH: record["hash"], T.FRAMEWORK: ctx.framework,
            T.KIND: T.KIND_TRIAL, T.PARAMS_JSON: json.dumps(record["params"]),
            T.DEVICE: (result or {}).get("device", "cpu")}
    if result and result.get("staged_from"):
        tags[T.STAGED_FROM] = str(result["staged_from"])
    if record["error"]:
        tags[T.ERROR] = record["error"]
        tags[T.TIMED_OUT] = str(outcome.timed_out).lower()
    return tags


def write_children(tracker: Tracker, writer: ChildWriter, parent_run_id: str,
                   batch: list[Child]) -> None:
    """Write a batch of finished children, each with its params, metrics, tags and status."""
    children = [tracker.child_run(f"trial_{record['index']:04d}", parent_run_id, tags,
                                  record["params"], record["metrics"], record["status"])
                for record, tags in batch]
    tracker.write_children(writer, children)


def log_kept_results(tracker: Tracker, experiment_id: str, parent_run_id: str, folder: Path,
                     skip: set[str], hashes: set[str]) -> set[str]:
    """Resume: log the combinations of the folder's results file that the store lacks (not in
    `skip`, in the grid's `hashes`), as the trial loop would have; return their hashes."""
    kept = {h: c for h, c in read_results(folder).items() if h in hashes and h not in skip}
    if not kept:
        return set()
    writer = tracker.child_writer(experiment_id)
    try:
        children = list(kept.values())
        for start in range(0, len(children), MAX_BATCH):
            write_children(tracker, writer, parent_run_id, children[start:start + MAX_BATCH])
    finally:
        writer.close()
    return set(kept)


@dataclass(frozen=True)
class TrialRun:
    """How to run a plan's trials: worker count, cluster, time limit, stop flag."""

    workers: int
    dask_scheduler: str | None
    trial_timeout: float | None
    should_stop: Callable[[], bool]


def run_trials(plan: Plan, shared: TrialShared, how: TrialRun, tracker: Tracker,
               ctx: TrialContext, on_event: ev.EventSink) -> list[dict[str, float]] | None:
    """Execute the plan; each group's children are logged by a background thread once all its
    folds are in. Returns the baseline's metrics per fold (None if the plan has no baseline).

    Every queued child is in MLflow when this returns or raises Cancelled after a stop
    request (a cancel stops new work, not the logging of finished work); when an error or a
    signal ends the loop, the queued children get up to ABANDON_AFTER_S to be logged. Every
    finished combination is in the results file of `ctx.folder` first, whatever MLflow does.
    """
    remaining = plan.remaining
    progress = Progress(total=len(plan.combos), done=len(plan.combos) - remaining)
    n_train, n_valid = shared.split.fold_sizes
    collector = FoldCollector(plan, ctx.metric, n_train, n_valid, shared.split, shared.rule)
    writer = tracker.child_writer(ctx.experiment_id)
    tracker.set_tags(ctx.parent_run_id, {T.CHILD_WRITES: writer.path})
    with ResultsJournal(ctx.folder) as journal, \
            ChildLogger(lambda batch: write_children(tracker, writer, ctx.parent_run_id, batch),
                        on_exit=writer.close) as logger:
        outcomes = execute(plan, shared, how.workers, how.dask_scheduler, how.trial_timeout,
                           how.should_stop)
        for outcome in outcomes:
            group = collector.add(outcome)
            if group is None:
                continue
            children = outcome_children(plan, ctx, group)
            journal.append(children)
            for child in children:
                logger.submit(child)
                progress.count(child[0], ctx.metric)
            on_event(ev.make_event(ev.TRIAL_FINISHED, done=progress.done, total=progress.total,
                                   failed=progress.failed, best=progress.best,
                                   best_params=progress.best_params,
                                   eta_seconds=progress.eta_seconds(remaining),
                                   error=group.error))
    if how.should_stop():
        raise ev.Cancelled("cancelled")
    return collector.baseline_folds
