"""Values the tracker writes: run owners, requirement pins, capped text, finite numbers."""

from __future__ import annotations

import contextlib
import getpass
import importlib.metadata
import math
import os
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modeldev.liveness import HEARTBEAT, heartbeat_stale, proc_stat, process_alive
from modeldev.tracking import tags as T

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PARAM_MAX_CHARS = 500  # full values belong in JSON artifacts
TAG_MAX_CHARS = 5000  # MLflow refuses tag values over 8,000 characters
# Every logged model unpickles these, whatever the framework.
BASE_REQUIREMENTS = ("cloudpickle", "numpy", "pandas", "scikit-learn")


def checked_run_id(run_id: str) -> str:
    """`run_id` when it has the form of an MLflow run id (safe in a path), else one sentence."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        from modeldev.errors import InputError

        raise InputError(f"{str(run_id)[:80]!r} is not an MLflow run id.")
    return run_id


def package_requirements(names: list[str]) -> list[str]:
    """Pip requirements pinned to the installed versions (local labels like +cpu dropped)."""
    seen: dict[str, str] = {}
    for name in [*BASE_REQUIREMENTS, *names]:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            version = importlib.metadata.version(name).split("+", 1)[0]
            seen[key] = f"{name}=={version}"
        except importlib.metadata.PackageNotFoundError:
            seen[key] = name
    return list(seen.values())


def owner_tags() -> dict[str, str]:
    """Who runs this run: pid, its start time, host, user and a first heartbeat (for sweeps)."""
    tags = {T.PID: str(os.getpid()), T.HOST: socket.gethostname(),
            T.HEARTBEAT: beat_text(time.time())}
    stat = proc_stat(os.getpid())
    if stat is not None:
        tags[T.PID_START] = stat[1]
    with contextlib.suppress(Exception):
        tags[T.USER] = getpass.getuser()
    return tags


def beat_text(now: float) -> str:
    """A heartbeat tag's value: epoch seconds, to the millisecond."""
    return f"{now:.3f}"


def keep_alive(client: Any, run_id: str, interval: float) -> None:
    """Refresh the run's heartbeat tag every `interval` seconds while this process lives."""
    HEARTBEAT.add(run_id, lambda now: client.set_tag(run_id, T.HEARTBEAT, beat_text(now)),
                  interval)


def stop_beating(run_id: str) -> None:
    """The run ended: its heartbeat stops."""
    HEARTBEAT.remove(run_id)


def owner_gone(tags: Mapping[str, str], now: float, grace: float) -> bool:
    """Whether the process owning a RUNNING run is gone.

    On this host its pid says so (gone, or another process since); on any other host (another
    machine, or this container's predecessor) a heartbeat older than `grace` does. A run of an
    older version, without a heartbeat, is only judged on the host that ran it.
    """
    pid = tags.get(T.PID, "")
    if tags.get(T.HOST) == socket.gethostname() and pid.isdigit():
        return not process_alive(int(pid), tags.get(T.PID_START))
    return bool(heartbeat_stale(tags.get(T.HEARTBEAT), now, grace))


def finite(value: Any) -> bool:
    """True for a value that converts to a finite float."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def short(value: Any, limit: int) -> str:
    """`value` as text, cut to `limit` characters with a trailing ellipsis."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def folder_bytes(path: Path) -> int:
    """Total size of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_tags(tags: dict[str, Any] | None, parent_run_id: str | None) -> dict[str, str]:
    """A new run's tags as stored: the owner's added, the parent's if any, each capped."""
    all_tags = {**(tags or {}), **owner_tags()}
    if parent_run_id:
        all_tags[T.PARENT] = parent_run_id
    return {k: short(v, TAG_MAX_CHARS) for k, v in all_tags.items()}


def capped_params(params: dict[str, Any] | None) -> dict[str, str]:
    """Params as text, capped at PARAM_MAX_CHARS (full values belong in JSON artifacts)."""
    return {k: short(v, PARAM_MAX_CHARS) for k, v in (params or {}).items()}


def finite_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The metrics that are finite numbers, as floats; the others are skipped."""
    return {k: float(v) for k, v in (metrics or {}).items() if finite(v)}
