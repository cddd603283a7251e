"""The process behind a job: `python -m modeldev.job_runner <job_dir>`.

It runs Phase 1 or tuning like the CLI does, appends every event to the job's events.jsonl, shows
the CLI's progress lines in job.log, and leaves status.json finished (with the summary), failed
(with one sentence; the traceback goes to job.log) or cancelled (SIGTERM: its runs end KILLED).
Exit codes follow the CLI: 0, 1 failed, 2 bad input, 143 cancelled.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modeldev.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, install_stop_handlers
from modeldev.errors import InputError, ModeldevError
from modeldev.events import Cancelled, Event

EXIT_CANCELLED = 128 + signal.SIGTERM


class JobSink:
    """The job's event sink: events.jsonl, the CLI's progress display, and the parent run id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.printer: Any = lambda event: None
        self.parent_run_id: str | None = None

    def __call__(self, event: Event) -> None:
        """Record one event."""
        append_event(self.folder, event)
        if event.get("type") == "session_started":
            self.parent_run_id = event.get("parent_run_id")
        self.printer(event)


def append_event(folder: Path, event: Event) -> None:
    """Append one event as one line in one write: a polling reader never sees half of it."""
    from modeldev.jobs import EVENTS

    line = (json.dumps(_plain(event), ensure_ascii=False, allow_nan=False) + "\n").encode()
    fd = os.open(folder / EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while line:
            line = line[os.write(fd, line):]
    finally:
        os.close(fd)


def _plain(event: Event) -> Any:
    from modeldev.artifacts import to_jsonable

    try:
        return to_jsonable(event)
    except TypeError:  # an odd value in an event must not stop a job: write it as text
        return to_jsonable(json.loads(json.dumps(event, default=str)))


def train_request(args: dict[str, Any]) -> Any:
    """The TrainRequest a train job's args describe (as `modeldev train` builds it)."""
    from modeldev.cli_train import load_source
    from modeldev.training import TrainRequest

    if not (args.get("data") or args.get("demo") or args.get("context")):
        raise InputError("A training job needs one of data, demo or context.")
    frameworks = args.get("frameworks")
    return TrainRequest(
        source=load_source(_source_args(args)), target=args.get("target"),
        task=args.get("task") or "auto", frameworks=list(frameworks) if frameworks else None,
        primary_metric=args.get("primary_metric"), seed=_seed(args),
        device=args.get("device") or "auto", experiment=args.get("experiment"),
        project=args.get("project"))


def tune_request(args: dict[str, Any]) -> Any:
    """The TuneRequest a tune job's args describe (as `modeldev tune` builds it)."""
    from modeldev.cli_train import load_source
    from modeldev.tuning.engine import TuneRequest

    has_source = bool(args.get("data") or args.get("demo") or args.get("context"))
    return TuneRequest(
        training_run_id=args.get("training_run_id"), framework=args.get("framework"),
        source=load_source(_source_args(args)) if has_source else None,
        target=args.get("target"), task=args.get("task") or "auto", grid=args.get("grid"),
        primary_metric=args.get("primary_metric"), workers=args.get("workers"),
        dask_scheduler=args.get("dask_scheduler"), trial_timeout=args.get("trial_timeout"),
        resume=args.get("resume"), seed=_seed(args), device=args.get("device") or "auto",
        experiment=args.get("experiment"))


def _source_args(args: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**{k: args.get(k) for k in ("data", "demo", "context", "target")})


def _seed(args: dict[str, Any]) -> int:
    from modeldev.split import DEFAULT_SEED

    return DEFAULT_SEED if args.get("seed") is None else int(args["seed"])


def run_spec(spec: dict[str, Any], sink: JobSink, should_stop: Any) -> dict[str, Any]:
    """Run the job's engine call with `sink` as its event sink; return the CLI's summary."""
    from modeldev.config import resolve_settings

    settings = resolve_settings()
    if spec["kind"] == "train":
        from modeldev.cli_train import ProgressPrinter, training_summary
        from modeldev.training import run_phase1

        sink.printer = ProgressPrinter()
        request = train_request(spec["args"])
        return training_summary(run_phase1(request, settings, sink, should_stop))
    from modeldev.cli_tune import TuneProgress, tune_summary
    from modeldev.tuning.session import run_tuning

    sink.printer = TuneProgress()
    request = tune_request(spec["args"])
    return tune_summary(run_tuning(request, settings, sink, should_stop))


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
        result = run_spec(spec, sink, should_stop)
        _ignore_signals()
    except BaseException as exc:  # every way out is recorded in status.json
        _ignore_signals()
        return _record_failure(folder, exc, sink, bool(should_stop()))
    from modeldev.jobs import update_status

    update_status(folder, state="finished", ended_at=time.time(), result=result)
    return EXIT_OK


def _start(folder: Path) -> dict[str, Any] | None:
    """Mark the job running and return its spec (None, status untouched, if it is not queued)."""
    from modeldev.artifacts import write_json
    from modeldev.jobs import SPEC, STATUS, cancel_requested, status_lock
    from modeldev.tracking_support import proc_stat

    if cancel_requested(folder):
        raise Cancelled("cancelled before it started")
    with status_lock(folder):  # held by submit() until it has written "queued"
        status = json.loads((folder / STATUS).read_text(encoding="utf-8"))
        if status.get("state") != "queued":
            print(f"modeldev job: {folder.name} is {status.get('state')}, not queued; it does "
                  "not run again.", file=sys.stderr, flush=True)
            return None
        stat = proc_stat(os.getpid())
        status.update(state="running", pid=os.getpid(), started_at=time.time(),
                      pid_start=None if stat is None else stat[1])
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
    from modeldev.jobs import STATUS, cancel_requested, update_status

    if isinstance(exc, Cancelled) or stopped or cancel_requested(folder):
        state, error, code = "cancelled", None, EXIT_CANCELLED
        print(f"modeldev job: cancelled ({exc})", file=sys.stderr, flush=True)
    else:
        traceback.print_exception(exc)
        code = EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_FAILED
        error = str(exc) if isinstance(exc, ModeldevError) else f"{type(exc).__name__}: {exc}"
        state = "failed"
    if sink.parent_run_id:
        _end_own_runs(sink.parent_run_id, "KILLED" if state == "cancelled" else "FAILED")
    if (folder / STATUS).exists():
        update_status(folder, state=state, ended_at=time.time(), error=error)
    return code


def _end_own_runs(parent_run_id: str, status: str) -> None:
    """End the job's runs left open: RUNNING ones of this process, and the parent itself.

    A signal may land between a run's start and end; and a cancelled session's parent ends
    KILLED even where the engine saw the interrupted MLflow call as a failure.
    """
    from modeldev.config import resolve_settings
    from modeldev.tracking import Tracker
    from modeldev.tracking_support import TAG_PID

    try:
        tracker = Tracker(resolve_settings())
        parent = tracker.get_run(parent_run_id)
        for run in tracker.search_runs([parent.info.experiment_id], "attributes.status = "
                                       f"'RUNNING' and tags.`{TAG_PID}` = '{os.getpid()}'"):
            tracker.end_run(run.info.run_id, status)
        if status == "KILLED" and parent.info.status in ("RUNNING", "FAILED"):
            tracker.end_run(parent_run_id, status)
    except Exception as exc:  # the sweep of dead jobs catches whatever is left
        print(f"modeldev job: could not end open runs: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m modeldev.job_runner JOB_DIR")
    sys.exit(main(sys.argv[1]))
