"""What both executors share: tasks, outcomes, thread caps and running one task in a worker.

Trials (and Phase 1 fits) run in parallel on a pool of local processes or a Dask cluster.

Both take the same `worker_fn(shared, payload) -> result` (a module-level function, picklable by
reference) and the same `shared` value (the data split, sent once per worker process, not once
per task), and yield one `TaskOutcome` per task in completion order. Workers only compute and
return results; the caller logs them. An exception in `worker_fn` is an error outcome with the
traceback's tail; the other tasks go on. A `shared` value with a `warm_up()` method gets it
called once per worker before any task (e.g. to import a heavy library outside the timeouts).

Local processes: `execution.local` (processes forked from a preloaded server, thread caps, kill on
timeout, no orphans).
Dask: `execution.dask` (what a timeout can and cannot do on a cluster is documented there).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modeldev.errors import InputError

WorkerFn = Callable[[Any, Any], Any]

_CAP_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "LOKY_MAX_CPU_COUNT", "RAYON_NUM_THREADS",
             "POLARS_MAX_THREADS")
_TRACEBACK_CHARS = 4000


@dataclass(frozen=True)
class TrialTask:
    """One unit of work: a unique key and a picklable, task-specific payload."""

    key: str
    payload: Any


@dataclass
class TaskOutcome:
    """What became of one task: its result, or the error, timeout or worker death that ended it."""

    key: str
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    timed_out: bool = False
    seconds: float = 0.0


_reporter: Callable[[dict[str, Any]], None] | None = None  # set in a worker serving tasks


def set_reporter(send: Callable[[dict[str, Any]], None] | None) -> None:
    """Where `report` sends progress in this process (a worker's pipe to its driver)."""
    global _reporter
    _reporter = send


def report(event: dict[str, Any]) -> None:
    """Send a progress event from a task to the driver (dropped where nobody listens)."""
    if _reporter is not None:
        _reporter(event)


def default_workers() -> int:
    """The number of cores this process may run on (CPU affinity respected)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def thread_caps(threads: int) -> dict[str, str]:
    """Environment variables capping the thread pools of BLAS, OpenMP, TF, torch, joblib and co."""
    if threads < 1:
        raise InputError(f"Threads per worker must be at least 1, not {threads}.")
    caps = dict.fromkeys(_CAP_VARS, str(threads))
    caps["TF_NUM_INTEROP_THREADS"] = "1"  # inter-op parallelism only adds threads to small nets
    return caps


def describe_error(exc: BaseException) -> str:
    """'ExcType: message', the one-line form of an error used in outcomes."""
    return f"{type(exc).__name__}: {exc}"


def traceback_tail() -> str:
    """The last few thousand characters of the traceback being handled."""
    return traceback.format_exc()[-_TRACEBACK_CHARS:]


def warm_up(shared: Any) -> None:
    """Call `shared.warm_up()` where there is one (once per worker, before its tasks)."""
    method = getattr(shared, "warm_up", None)
    if callable(method):
        method()


def run_task(worker_fn: WorkerFn, shared: Any, key: str, payload: Any) -> dict[str, Any]:
    """Run one task in a worker; an exception becomes an error record (TaskOutcome's fields)."""
    start = time.perf_counter()
    record: dict[str, Any] = {"key": key, "result": None, "error": None, "traceback": None}
    try:
        record["result"] = worker_fn(shared, payload)
    except Exception as exc:  # a failing trial is an outcome, not a crash of the pool
        record["error"], record["traceback"] = describe_error(exc), traceback_tail()
    record["seconds"] = time.perf_counter() - start
    return record


def check_tasks(tasks: Sequence[TrialTask], timeout: float | None) -> None:
    """Refuse repeated task keys and a timeout that is not a positive number of seconds."""
    if len({task.key for task in tasks}) != len(tasks):
        raise InputError("Each tuning task needs a unique key; some keys repeat.")
    if timeout is not None and not timeout > 0:
        raise InputError(f"The trial timeout must be a positive number of seconds, not {timeout}.")
