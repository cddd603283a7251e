"""The process behind a job: `python -m modeldev.jobs.runner <job_dir>`.

It runs Phase 1 or tuning like the CLI does, appends every event to the job's events.jsonl, shows
the CLI's progress lines in job.log, and leaves status.json finished (with the summary), failed
(with one sentence; the traceback goes to job.log) or cancelled (SIGTERM: its runs end KILLED).
Exit codes follow the CLI: 0, 1 failed, 2 bad input, 143 cancelled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeldev.artifacts import write_json
from modeldev.config import Limits, Settings, resolve_settings, scrub_credentials
from modeldev.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    InputError,
    ModeldevError,
)
from modeldev.events import Cancelled, Event, install_stop_handlers, make_event
from modeldev.jobs.files import EVENTS, JOB_ENDED, append_event, beat
from modeldev.jobs.store import (
    SPEC,
    STATUS,
    cancel_requested,
    status_lock,
    update_status,
)
from modeldev.liveness import HEARTBEAT, proc_stat

if TYPE_CHECKING:
    from modeldev.data.loading import Source
    from modeldev.phase1.results import TrainRequest
    from modeldev.tuning.types import TuneRequest

# The engine (MLflow, pandas, scikit-learn...) is imported inside the functions that run it:
# the stop handlers must be in place within milliseconds of the process starting, or a cancel
# sent during seconds of imports would kill it before it could record anything.


class JobSink:
    """The job's event sink: events.jsonl, the CLI's progress display, and the parent run id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.printer: Any = lambda event: None
        self.parent_run_id: str | None = None
        self.settings: Settings | None = None  # known once the spec is read

    def __call__(self, event: Event) -> None:
        """Record one event."""
        append_event(self.folder, event)
        if event.get("type") == "session_started":
            self.parent_run_id = event.get("parent_run_id")
        self.printer(event)


def train_request(args: dict[str, Any], limits: Limits | None = None) -> TrainRequest:
    """The TrainRequest a train job's args describe (as `modeldev train` builds it)."""
    from modeldev.phase1.results import TrainRequest

    if not (args.get("data") or args.get("demo") or args.get("context")):
        raise InputError("A training job needs one of data, demo or context.")
    frameworks = args.get("frameworks")
    return TrainRequest(
        source=_source(args, limits), target=args.get("target"),
        task=args.get("task") or "auto", frameworks=list(frameworks) if frameworks else None,
        primary_metric=args.get("primary_metric"), seed=_seed(args),
        device=args.get("device") or "auto", experiment=args.get("experiment"),
        project=args.get("project"), cv=args.get("cv"), repeats=args.get("repeats"),
        threshold=args.get("threshold"), calibration=args.get("calibration"),
        class_weight=args.get("class_weight"),
        workers=args.get("workers"),
        framework_timeout=args.get("framework_timeout"))


def tune_request(args: dict[str, Any], limits: Limits | None = None) -> TuneRequest:
    """The TuneRequest a tune job's args describe (as `modeldev tune` builds it)."""
    from modeldev.tuning.types import TuneRequest

    has_source = bool(args.get("data") or args.get("demo") or args.get("context"))
    return TuneRequest(
        training_run_id=args.get("training_run_id"), framework=args.get("framework"),
        source=_source(args, limits) if has_source else None,
        target=args.get("target"), task=args.get("task") or "auto", grid=args.get("grid"),
        primary_metric=args.get("primary_metric"), workers=args.get("workers"),
        dask_scheduler=args.get("dask_scheduler"), trial_timeout=args.get("trial_timeout"),
        resume=args.get("resume"), seed=_seed(args), device=args.get("device") or "auto",
        experiment=args.get("experiment"))


def _source(args: dict[str, Any], limits: Limits | None) -> Source:
    from modeldev.data.loading import load_source

    return load_source(args.get("data"), args.get("demo"), args.get("context"),
                       args.get("target"), limits)


def _seed(args: dict[str, Any]) -> int:
    from modeldev.data.split import DEFAULT_SEED

    return DEFAULT_SEED if args.get("seed") is None else int(args["seed"])


def job_settings(spec: dict[str, Any]) -> Settings:
    """The settings the job was submitted with (older job folders: from the environment)."""
    return Settings.from_dict(spec["settings"]) if "settings" in spec else resolve_settings()


def run_spec(spec: dict[str, Any], sink: JobSink, should_stop: Any) -> dict[str, Any]:
    """Run the job's engine call with `sink` as its event sink; return the CLI's summary."""
    from modeldev.console import ProgressPrinter, TuneProgress
    from modeldev.phase1.run import resume_phase1, run_phase1
    from modeldev.tuning.session import run_tuning

    settings = sink.settings = job_settings(spec)
    args = spec["args"]
    if spec["kind"] == "train" and args.get("resume"):
        sink.printer = ProgressPrinter(interactive=False)
        source = _source(args, settings.limits) if args.get("data") or args.get("demo") else None
        return resume_phase1(args["resume"], settings, source, args.get("framework_timeout"),
                             sink, should_stop).summary()
    if spec["kind"] == "train":  # job.log is no terminal: plain lines, whatever stderr is
        request = train_request(args, settings.limits)
        sink.printer = ProgressPrinter(primary_metric=request.primary_metric, interactive=False)
        return run_phase1(request, settings, sink, should_stop).summary()
    sink.printer = TuneProgress(interactive=False)
    tune = tune_request(spec["args"], settings.limits)
    return run_tuning(tune, settings, sink, should_stop).summary()


def main(folder: str | Path) -> int:
    """Run the job in `folder` to its end and record how it ended; return the exit code."""
    folder = Path(folder).resolve()
    sink = JobSink(folder)
    should_stop: Any = lambda: False  # noqa: E731 - replaced by the signal flag at once
    try:
        should_stop = install_stop_handlers()
        spec = _start(folder)
        if spec is None:
            return EXIT_FAILED
        HEARTBEAT.add(f"job:{folder}", lambda now: beat(folder, now),
                      job_settings(spec).heartbeat_s)
        result = run_spec(spec, sink, should_stop)
        _ignore_signals()
        return _record_end(folder, EXIT_OK, state="finished", error=None, result=result)
    except BaseException as exc:  # every way out is recorded in status.json
        _ignore_signals()
        return _record_failure(folder, exc, sink, bool(should_stop()))


def _record_end(folder: Path, code: int, **outcome: Any) -> int:
    """Record how the job ended: a `job_ended` event, then status.json; return the exit code.

    The event comes first and is appended (no lock, no rename): where status.json cannot be
    written (a full disk, a broken lock), a later sweep reads the outcome back from it instead
    of calling the job dead. A failed write is told in job.log, and the exit code is then 1.
    """
    outcome["ended_at"] = time.time()
    try:
        append_event(folder, make_event(JOB_ENDED, **outcome))
        told = f"the outcome is in {EVENTS}, where the next sweep reads it"
    except Exception as exc:
        told = f"nor could it append to {EVENTS} ({type(exc).__name__}: {exc})"
    try:
        update_status(folder, **outcome)
    except Exception as exc:
        print(f"modeldev job: ended {outcome['state']}, but could not write {STATUS} "
              f"({type(exc).__name__}: {exc}); {told}.", file=sys.stderr, flush=True)
        return EXIT_FAILED if code == EXIT_OK else code
    return code


def _start(folder: Path) -> dict[str, Any] | None:
    """Mark the job running and return its spec (None, status untouched, if it is not queued)."""
    with status_lock(folder):  # held by submit() until it has written "queued"
        if cancel_requested(folder):  # under the lock: cancel() reads the state under it too
            raise Cancelled("cancelled before it started")
        status = json.loads((folder / STATUS).read_text(encoding="utf-8"))
        if status.get("state") != "queued":
            print(f"modeldev job: {folder.name} is {status.get('state')}, not queued; it does "
                  "not run again.", file=sys.stderr, flush=True)
            return None
        stat = proc_stat(os.getpid())
        beat(folder, time.time())
        status.update(state="running", pid=os.getpid(), started_at=time.time(),
                      pid_start=None if stat is None else stat[1], host=socket.gethostname())
        write_json(folder / STATUS, status)
    return json.loads((folder / SPEC).read_text(encoding="utf-8"))


def _ignore_signals() -> None:
    """From here on the runner only records the outcome: a late SIGTERM must not cut it short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _record_failure(folder: Path, exc: BaseException, sink: JobSink, stopped: bool) -> int:
    """Record a cancelled or failed end; `stopped` says a stop signal arrived.

    A signal raises Cancelled wherever the process is, and a library may wrap it in its own
    error (MLflow's SQL store does): once a stop was asked for, any error ends as cancelled.
    """
    if isinstance(exc, Cancelled) or stopped or cancel_requested(folder):
        state, error, code = "cancelled", None, EXIT_CANCELLED
        print(f"modeldev job: cancelled ({exc})", file=sys.stderr, flush=True)
    else:
        traceback.print_exception(exc)
        code = EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_FAILED
        error = one_line(str(exc) if isinstance(exc, ModeldevError)
                         else f"{type(exc).__name__}: {exc}")
        state = "failed"
    if sink.parent_run_id and sink.settings is not None:
        _end_own_runs(sink.settings, sink.parent_run_id,
                      "KILLED" if state == "cancelled" else "FAILED")
    if not (folder / STATUS).exists():
        return code
    return _record_end(folder, code, state=state, error=error, result=None)


def one_line(text: str) -> str:
    """An error as the page shows it: its first line, no credentials (job.log keeps the rest)."""
    return scrub_credentials((text.strip().splitlines() or [""])[0])[:1000]


def _end_own_runs(settings: Settings, parent_run_id: str, status: str) -> None:
    """End the job's runs left open: RUNNING ones of this process, and the parent itself.

    A signal may land between a run's start and end; and a cancelled session's parent ends
    KILLED even where the engine saw the interrupted MLflow call as a failure.
    """
    from modeldev.tracking.tracker import Tracker

    try:
        tracker = Tracker(settings)
        parent = tracker.get_run(parent_run_id)
        tracker.end_process_runs(parent.experiment_id, os.getpid(), status)
        if status == "KILLED" and parent.status in ("RUNNING", "FAILED"):
            tracker.end_run(parent_run_id, status)
    except Exception as exc:  # the sweep of dead jobs catches whatever is left
        print(f"modeldev job: could not end open runs: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m modeldev.jobs.runner JOB_DIR")
    sys.exit(main(sys.argv[1]))
