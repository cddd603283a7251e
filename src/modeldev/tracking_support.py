"""The parts of tracking that need no MLflow: server health, run owners, requirement pins."""

from __future__ import annotations

import contextlib
import getpass
import importlib.metadata
import math
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from modeldev.errors import TrackingError

HEALTH_TIMEOUT_S = 5.0
TAG_PARENT, TAG_PID, TAG_PID_START, TAG_HOST = (
    "mlflow.parentRunId", "modeldev.pid", "modeldev.pid_start", "modeldev.host")
# Every logged model unpickles these, whatever the framework.
BASE_REQUIREMENTS = ("cloudpickle", "numpy", "pandas", "scikit-learn")


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


def sqlite_path(uri: str) -> Path:
    """The database file a sqlite:/// tracking URI names."""
    rest = uri.split(":///", 1)[1].split("?", 1)[0] if ":///" in uri else ""
    if not rest or rest == ":memory:":
        raise TrackingError(f"The tracking URI {uri} names no SQLite file; use sqlite:///PATH.")
    return Path(rest).expanduser().resolve()


def check_server(tracking_uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Raise TrackingError unless the tracking server answers its health check in time."""
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (http(s) only)
            return
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return  # it answers: auth or a proxy path is MLflow's business, not reachability
        reason = f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
    raise TrackingError(f"MLflow tracking server at {tracking_uri} is not reachable: {reason}.")


def owner_tags() -> dict[str, str]:
    """Who runs this run: pid, its start time where known, host and user (for stale sweeps)."""
    tags = {TAG_PID: str(os.getpid()), TAG_HOST: socket.gethostname()}
    stat = proc_stat(os.getpid())
    if stat is not None:
        tags[TAG_PID_START] = stat[1]
    with contextlib.suppress(Exception):
        tags["mlflow.user"] = getpass.getuser()
    return tags


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) from /proc, or None where there is no such entry."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def process_alive(pid: int, started: str | None) -> bool:
    """Whether `pid` is still the live process that started the run (zombies count as gone)."""
    if Path("/proc/self/stat").exists():
        stat = proc_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X") and started in (None, stat[1])
    if os.name != "posix":
        return True  # cannot tell: never kill a run that may be alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
