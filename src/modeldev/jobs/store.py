"""Background jobs: a folder per job and a child process (its own session) running the engine.

A job folder holds `spec.json` (what to run), `status.json` (state, pid, host, result; replaced
by atomic rename, read-modify-written under `status.lock`), `events.jsonl` (the engine's events,
append-only, one line per event, the last `job_ended`), `heartbeat` and `job.log` (the child's
stdout and stderr). The app and the CLI only read these files, send SIGTERM to cancel, and sweep
jobs whose process is gone (this host: its pid; another host: a stale heartbeat).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import filelock

from modeldev.artifacts import write_json
from modeldev.config import Settings
from modeldev.errors import InputError, ModeldevError
from modeldev.jobs import files, quota
from modeldev.jobs.files import LOG
from modeldev.liveness import heartbeat_stale, proc_stat, process_alive

JOB_STATES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
KINDS = quota.KINDS
SPEC, STATUS, CANCEL_MARK = "spec.json", "status.json", "cancel_requested"
DEAD_ERROR = "the job process died"
_SOURCE_ARGS = ("demo", "data", "context", "target", "task", "seed", "device", "experiment")
VALID_ARGS = {
    "train": frozenset({*_SOURCE_ARGS, "frameworks", "primary_metric", "project", "cv",
                        "repeats", "workers", "framework_timeout", "resume", "threshold",
                        "calibration", "class_weight"}),
    "tune": frozenset({*_SOURCE_ARGS, "training_run_id", "framework", "grid", "primary_metric",
                       "workers", "trial_timeout", "resume", "dask_scheduler"}),
}
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_LOCK_TIMEOUT_S = 60.0
_children: list[subprocess.Popen] = []  # reaped as they end, so no zombie outlives a poll
_children_lock = threading.Lock()  # the app submits and polls from several script threads


@dataclass
class JobSpec:
    """What a job runs: `kind` "train" or "tune", JSON-safe `args`, who asked and a label."""

    kind: str
    args: dict[str, Any]
    owner: str = ""
    label: str = ""


def job_dir(settings: Settings, job_id: str) -> Path:
    """The folder of job `job_id` (the id is checked: no path can escape the jobs folder)."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InputError(f"{job_id!r} is not a job id.")
    return settings.jobs_dir / job_id


def submit(spec: JobSpec, settings: Settings) -> str:
    """Create the job folder, start its process in a new session and return the job id."""
    args = _checked_args(spec)
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    _reap()
    with status_lock(settings.jobs_dir, ".submit.lock"):  # one check-and-start at a time
        args = quota.admit(spec.kind, spec.owner, args, _active(settings), settings)
        job_id, folder = _new_folder(settings)
        write_json(folder / SPEC, {**asdict(spec), "args": args,
                                   "settings": settings.to_dict()})
        files.beat(folder, time.time())  # the runner keeps it fresh once it starts
        with status_lock(folder):  # the child writes "running" only after this
            child = _launch(folder)
            write_json(folder / STATUS, {
                "job_id": job_id, "kind": spec.kind, "state": "queued", "pid": child.pid,
                "host": socket.gethostname(),
                "pid_start": (proc_stat(child.pid) or (None, None))[1], "owner": spec.owner,
                "label": spec.label, "created_at": time.time(), "started_at": None,
                "ended_at": None, "error": None, "result": None})
    return job_id


def _checked_args(spec: JobSpec) -> dict[str, Any]:
    if spec.kind not in KINDS:
        raise InputError(f"Unknown job kind {spec.kind!r}; valid kinds are: train, tune.")
    unknown = sorted(set(spec.args) - VALID_ARGS[spec.kind])
    if unknown:
        raise InputError(f"Unknown {spec.kind} job argument(s): {', '.join(unknown)}; valid "
                         f"ones are: {', '.join(sorted(VALID_ARGS[spec.kind]))}.")
    try:
        args = json.loads(json.dumps(spec.args, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(f"Job arguments must be plain JSON values: {exc}.") from None
    for key in ("data", "context"):  # the child runs elsewhere: make paths absolute now
        if args.get(key):
            args[key] = str(Path(args[key]).expanduser().resolve())
    return args


def _new_folder(settings: Settings) -> tuple[str, Path]:
    while True:
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        try:
            (settings.jobs_dir / job_id).mkdir()
        except FileExistsError:
            continue
        return job_id, settings.jobs_dir / job_id


def _launch(folder: Path) -> subprocess.Popen:
    """Start the job's process; its settings travel in spec.json, not in the environment."""
    with open(folder / LOG, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "modeldev.jobs.runner", str(folder)], cwd=folder,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    with _children_lock:
        _children.append(child)
    return child


def status_lock(folder: Path, name: str = "status.lock") -> filelock.BaseFileLock:
    """The lock every read-modify-write of the job's status.json holds."""
    return filelock.FileLock(str(folder / name), timeout=_LOCK_TIMEOUT_S)


def _reap() -> None:
    """Collect the exit status of ended children (the app's server lives long)."""
    with _children_lock:
        _children[:] = [c for c in _children if c.poll() is None]


def update_status(folder: Path, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into the job's status.json under its lock; return the new status."""
    with status_lock(folder):
        status = _read_json(folder / STATUS) or {"job_id": folder.name}
        status.update(changes)
        write_json(folder / STATUS, status)
    return status


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_status(settings: Settings, job_id: str) -> dict[str, Any]:
    """The job's status: state, pid, owner, label, times, error and (when finished) result."""
    status = _read_json(job_dir(settings, job_id) / STATUS)
    if status is None:
        raise InputError(f"There is no job {job_id} in {settings.jobs_dir}.")
    return status


def is_alive(status: dict[str, Any], settings: Settings | None = None) -> bool:
    """Whether the job's process still runs: on this host, its pid and start time say; with
    `settings`, a job of another host (a shared workspace) lives while its heartbeat is fresh."""
    if settings is not None and status.get("host") not in (None, socket.gethostname()):
        beat = files.last_beat(settings.jobs_dir / status["job_id"])
        return heartbeat_stale(beat, time.time(), settings.heartbeat_grace_s) is False
    pid = status.get("pid")
    return isinstance(pid, int) and pid > 0 and process_alive(pid, status.get("pid_start"))


def cancel(settings: Settings, job_id: str) -> bool:
    """Ask a queued or running job to stop (SIGTERM to its process group, sent once).

    A queued job only gets the cancel mark, which its runner reads when it starts (both under
    the status lock): a signal could land before the runner has its handlers in place.
    """
    folder = job_dir(settings, job_id)
    read_status(settings, job_id)  # an unknown job is an InputError
    _reap()
    with status_lock(folder):
        status = read_status(settings, job_id)
        if status.get("state") not in ACTIVE_STATES or not is_alive(status, settings):
            return False
        if status.get("host") not in (None, socket.gethostname()):
            raise ModeldevError(f"Job {job_id} runs on host {status['host']}; cancel it there.")
        try:
            os.close(os.open(folder / CANCEL_MARK, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return True  # one signal only: a second would interrupt the runner's own clean-up
        if status.get("state") == "queued":
            return True
    pid = status["pid"]
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        raise ModeldevError(f"Not allowed to stop job {job_id} (process {pid}).") from None
    return True


def read_events(settings: Settings, job_id: str, offset: int = 0) -> tuple[list[dict], int]:
    """Complete events of a job from byte `offset` on, and the offset to read from next time."""
    return files.read_events(job_dir(settings, job_id), offset)


def log_tail(settings: Settings, job_id: str, lines: int = 40, tracebacks: bool = True) -> str:
    """The last `lines` lines of the job's log (`tracebacks` False: folded, for a page)."""
    return files.log_tail(job_dir(settings, job_id), lines, tracebacks)


def cancel_requested(folder: Path) -> bool:
    """Whether cancel() was called for the job in `folder`."""
    return (folder / CANCEL_MARK).exists()


def list_jobs(settings: Settings, owner: str | None = None,
              kind: str | None = None) -> list[dict[str, Any]]:
    """Statuses of the jobs (optionally one owner's, one kind's), newest first."""
    if not settings.jobs_dir.is_dir():
        return []
    found = []
    for folder in settings.jobs_dir.iterdir():
        status = _read_json(folder / STATUS) if folder.is_dir() else None
        if status is None or (owner is not None and status.get("owner") != owner):
            continue
        if kind is None or status.get("kind") == kind:
            found.append(status)
    return sorted(found, key=lambda s: (s.get("created_at") or 0, s["job_id"]), reverse=True)


def active_job(settings: Settings, owner: str | None = None,
               kind: str | None = None) -> dict[str, Any] | None:
    """The newest queued or running job (dead ones swept first), or None."""
    found = [s for s in _active(settings) if (owner is None or s.get("owner") == owner)
             and (kind is None or s.get("kind") == kind)]
    return found[0] if found else None


def _active(settings: Settings) -> list[dict[str, Any]]:
    """Every queued or running job (dead ones swept first)."""
    if _sweep_jobs(settings):
        _sweep_runs(settings)
    return [s for s in list_jobs(settings) if s.get("state") in ACTIVE_STATES]


def inputs_in_use(settings: Settings) -> set[Path]:
    """The data and context files that live jobs read (uploads that must stay)."""
    return quota.inputs(settings.jobs_dir, _active(settings))


def sweep_dead_jobs(settings: Settings, tracker: Any = None) -> int:
    """Mark jobs whose process is gone failed (cancelled if asked), sweep stale MLflow runs
    (through `tracker`, a Tracker of `settings`, when the caller holds one: the app's)."""
    swept = _sweep_jobs(settings)
    _sweep_runs(settings, tracker)
    return swept


def _sweep_jobs(settings: Settings) -> int:
    _reap()
    swept = 0
    for status in list_jobs(settings):
        if status.get("state") in ACTIVE_STATES and not is_alive(status, settings):
            try:
                swept += _mark_dead(settings, settings.jobs_dir / status["job_id"])
            except (OSError, filelock.Timeout):
                continue  # a folder that cannot be written now is left for a later sweep
    return swept


def _mark_dead(settings: Settings, folder: Path) -> int:
    """Under the status lock, re-check (the job may have just ended well) and mark it.

    A job that told how it ended (its `job_ended` event) but could not write status.json gets
    that outcome; only a job that died without a word is failed with DEAD_ERROR.
    """
    with status_lock(folder):
        status = _read_json(folder / STATUS)
        if status is None or status.get("state") not in ACTIVE_STATES or \
                is_alive(status, settings):
            return 0
        ended = files.last_outcome(folder)
        asked = cancel_requested(folder)
        if ended is not None:
            status.update({k: ended.get(k) for k in ("state", "ended_at", "error", "result")})
        else:
            status.update(state="cancelled" if asked else "failed", ended_at=time.time(),
                          error=None if asked else DEAD_ERROR)
        write_json(folder / STATUS, status)
    return 1


def _sweep_runs(settings: Settings, tracker: Any = None) -> None:
    """RUNNING MLflow runs of dead processes, in every experiment, to KILLED."""
    from modeldev.tracking.store import sqlite_path
    from modeldev.tracking.tracker import Tracker

    if settings.uses_sqlite and not sqlite_path(settings.tracking_uri).exists():
        return  # no store yet: nothing to sweep, and nothing should be created here
    tracker = tracker or Tracker(settings)  # a new one opens the store: 20-30 ms
    ids = tracker.experiment_ids()
    if ids:
        tracker.sweep_stale_runs(ids)
