"""Picklable worker functions for tests/test_executor.py, imported by spawned worker processes.

pytest puts tests/ on sys.path (rootdir-relative "prepend" import mode) and spawned processes,
local or Dask's, inherit the parent's sys.path, so this module is importable in every worker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

OMP_AT_IMPORT = os.environ.get("OMP_NUM_THREADS")  # what a heavy library would see at import
LOADS = 0  # how many CountingShared objects were unpickled in this process


class CountingShared:
    """A shared value that counts its unpickling in the process that receives it."""

    def __init__(self, data: list[int]) -> None:
        self.data = data

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        global LOADS
        LOADS += 1
        self.data = state["data"]


def compute(shared: CountingShared, payload: dict[str, Any]) -> dict[str, Any]:
    """Deterministic: the result depends only on shared and payload; 'op' triggers faults."""
    op = payload.get("op", "sum")
    if op == "raise":
        raise ValueError(f"bad value {payload['x']}")
    if op == "sleep":
        time.sleep(payload["seconds"])
    if op == "exit":
        os._exit(payload.get("code", 3))
    return {"x": payload["x"], "value": sum(shared.data) * payload["x"]}


def _omp_at_exec() -> str | None:
    """OMP_NUM_THREADS as the process was started with (Linux), before any Python code ran."""
    try:
        entries = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    found = [e.split(b"=", 1)[1] for e in entries if e.startswith(b"OMP_NUM_THREADS=")]
    return found[0].decode() if found else "unset"


def _pool_threads() -> dict[str, int]:
    """The thread count of each BLAS and OpenMP pool in this process (threadpoolctl), numpy's
    among them (loaded by the fork server already, or now)."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return {f"{info['internal_api']}:{info['filepath']}": info["num_threads"]
            for info in threadpool_info()}


def whoami(shared: CountingShared, payload: dict[str, Any]) -> dict[str, Any]:
    """Where and how the task ran: pid, shared loads so far, thread caps now, at import and at
    exec, the loaded thread pools' sizes, stdout's file and the cores."""
    time.sleep(payload.get("seconds", 0.0))
    return {"pid": os.getpid(), "loads": LOADS, "omp": os.environ.get("OMP_NUM_THREADS"),
            "mkl": os.environ.get("MKL_NUM_THREADS"), "omp_at_import": OMP_AT_IMPORT,
            "omp_at_exec": _omp_at_exec(), "pools": _pool_threads(), "stdout": file_of(1),
            "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def file_of(fd: int) -> tuple[int, int] | None:
    """(device, inode) of what a descriptor writes to."""
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def pid_then_sleep(shared: Any, payload: dict[str, Any]) -> None:
    """Write this worker's pid to payload['path'], then sleep: a trial stuck in a long fit."""
    with open(payload["path"], "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(payload["seconds"])


def unpicklable(shared: Any, payload: Any) -> Any:
    """Return something that cannot travel back to the driver."""
    return lambda: None


class SlowWarmUp:
    """A shared value whose warm-up (a heavy import, say) takes `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.warmed = False

    def warm_up(self) -> None:
        time.sleep(self.seconds)
        self.warmed = True


def was_warmed(shared: SlowWarmUp, payload: Any) -> dict[str, Any]:
    """Whether the worker warmed `shared` up before this task."""
    return {"warmed": shared.warmed, "pid": os.getpid()}
