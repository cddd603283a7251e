"""`modeldev jobs`: list, show, cancel and sweep background jobs (those the app starts)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from modeldev.cli.common import common_options, emit_json

SHOWN_EVENTS = 10


def add_jobs_parser(sub: Any) -> None:
    """Register the `jobs` subcommand and its actions."""
    p = sub.add_parser("jobs", help="background jobs: list, show, cancel, sweep")
    actions = p.add_subparsers(dest="jobs_command", required=True)
    for name, handler, text in (
            ("list", run_list, "every job, newest first"),
            ("show", run_show, "a job's status and its last events"),
            ("cancel", run_cancel, "stop a queued or running job (its runs end KILLED)"),
            ("sweep", run_sweep, "mark jobs whose process died as failed, and their runs")):
        action = actions.add_parser(name, help=text)
        if name in ("show", "cancel"):
            action.add_argument("job_id", metavar="ID")
        common_options(action)
        action.set_defaults(handler=handler)


def _settings(args: argparse.Namespace) -> Any:
    from modeldev.config import resolve_settings

    return resolve_settings(args.workspace)


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def run_list(args: argparse.Namespace) -> int:
    """Print every job (a table, or {"jobs": [...]} with --json)."""
    from modeldev.jobs.store import list_jobs

    jobs = list_jobs(_settings(args))
    if args.json:
        emit_json({"jobs": jobs})
        return 0
    for job in jobs:
        print(f"{job['job_id']:<26} {job.get('kind', ''):<6} {job.get('state', ''):<10} "
              f"{_when(job.get('created_at')):<20} {job.get('owner') or '-':<12} "
              f"{job.get('label') or ''}")
    if not jobs:
        print("no jobs")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print a job's status and its last events."""
    from modeldev.jobs.store import read_events, read_status

    settings = _settings(args)
    status = read_status(settings, args.job_id)
    events = read_events(settings, args.job_id)[0][-SHOWN_EVENTS:]
    if args.json:
        emit_json({**status, "events": events})
        return 0
    for key in ("job_id", "kind", "state", "pid", "owner", "label", "error"):
        print(f"{key}: {status.get(key)}")
    for key in ("created_at", "started_at", "ended_at"):
        print(f"{key}: {_when(status.get(key))}")
    for key, value in (status.get("result") or {}).items():
        if key != "runs":
            print(f"result.{key}: {value}")
    for event in events:
        extra = {k: v for k, v in event.items() if k not in ("type", "time")}
        print(f"  {_when(event.get('time'))} {event.get('type')} {_short(extra)}")
    return 0


def _short(fields: dict[str, Any], limit: int = 100) -> str:
    text = ", ".join(f"{k}={v}" for k, v in fields.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_cancel(args: argparse.Namespace) -> int:
    """Ask a job to stop; a job that is not running is an error (exit 1)."""
    from modeldev.errors import ModeldevError
    from modeldev.jobs.store import cancel, read_status

    settings = _settings(args)
    if not cancel(settings, args.job_id):
        state = read_status(settings, args.job_id).get("state")
        raise ModeldevError(f"Job {args.job_id} is not running ({state}); nothing to cancel.")
    if args.json:
        emit_json({"job_id": args.job_id, "cancelled": True})
    else:
        print(f"cancel sent to job {args.job_id}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """Mark dead jobs failed and stale MLflow runs KILLED."""
    from modeldev.jobs.store import sweep_dead_jobs

    swept = sweep_dead_jobs(_settings(args))
    if args.json:
        emit_json({"swept": swept})
    else:
        print(f"{swept} dead job(s) swept")
    return 0
