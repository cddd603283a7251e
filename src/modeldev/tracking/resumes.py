"""What resuming a session does to its parent run, the same for Phase 1 and tuning: check its
kind, refuse it while its process lives, and take it over."""

from __future__ import annotations

import time

from modeldev.errors import InputError
from modeldev.tracking import tags as T
from modeldev.tracking.records import RunRecord
from modeldev.tracking.tracker import Tracker


def session_run(tracker: Tracker, run_id: str, kind: str, what: str) -> RunRecord:
    """The run `run_id`, refused unless it is tagged `kind` (`what`: 'a tuning parent run')."""
    run = tracker.get_run(run_id)
    if run.tags.get(T.KIND) != kind:
        raise InputError(f"Run {run_id} is not {what}.")
    return run


def refuse_live(tracker: Tracker, run: RunRecord, noun: str) -> None:
    """Sweep the experiment's runs of dead processes; refuse `run` if it is still running."""
    tracker.sweep_stale_runs([run.experiment_id])
    if tracker.get_run(run.run_id).status == "RUNNING":
        raise InputError(f"{noun} {run.run_id} is still running (its process is alive, or on "
                         "another machine); stop it before resuming.")


def take_over(tracker: Tracker, run_id: str, tags: dict[str, str] | None = None) -> None:
    """Set the run RUNNING again, owned (tags, heartbeat) by this process, stamped resumed."""
    tracker.reopen_run(run_id)
    tracker.set_tags(run_id, {T.RESUMED_AT: str(int(time.time())), **(tags or {})})
