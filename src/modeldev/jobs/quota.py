"""What one workspace lets its jobs take: one job per owner and kind, a cap on all running jobs
(`MODELDEV_MAX_JOBS`) and on each job's worker processes (`MODELDEV_MAX_WORKERS`, at most the
cores). `jobs.store.submit` asks here under its submit lock, so two submits never both pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modeldev.config import Settings
from modeldev.errors import InputError
from modeldev.execution.common import default_workers

KINDS = {"train": "training", "tune": "tuning"}
_INPUT_ARGS = ("data", "context")


def admit(kind: str, owner: str, args: dict[str, Any], active: list[dict[str, Any]],
          settings: Settings) -> dict[str, Any]:
    """`args` with the worker count clamped, or the refusal in one sentence: this owner already
    runs a job of this kind, or the workspace runs as many jobs as it may."""
    mine = [s for s in active if owner and s.get("owner") == owner and s.get("kind") == kind]
    if mine:
        raise InputError(f"A {KINDS[kind]} job is already running for this session: "
                         f"{mine[0]['job_id']}.")
    cap = settings.access.max_jobs
    if len(active) >= cap:
        raise InputError(f"{len(active)} jobs are running on this server, as many as it allows "
                         f"(MODELDEV_MAX_JOBS={cap}); start this one when one of them ends.")
    return {**args, "workers": clamp_workers(args.get("workers"), settings)}


def clamp_workers(workers: Any, settings: Settings) -> int | None:
    """A job's worker processes, at most `MODELDEV_MAX_WORKERS` (None: the engine's default
    where that is within the cap)."""
    cap = settings.access.max_workers
    if workers is None:
        return None if default_workers() <= cap else cap
    try:
        wanted = int(workers)
    except (TypeError, ValueError):
        raise InputError(f"Workers must be a whole number, got {workers!r}.") from None
    if wanted < 1:
        raise InputError(f"Workers must be at least 1, got {wanted}.")
    return min(wanted, cap)


def inputs(jobs_dir: Path, active: list[dict[str, Any]]) -> set[Path]:
    """The data and context files the given (live) jobs read."""
    found = set()
    for status in active:
        try:
            spec = json.loads((jobs_dir / status["job_id"] / "spec.json").read_text())
        except (OSError, ValueError, KeyError):
            continue
        found |= {Path(spec["args"][k]) for k in _INPUT_ARGS if (spec.get("args") or {}).get(k)}
    return found
