"""Run tasks on a Dask `distributed` cluster (`run_dask`): the same worker_fn as locally.

`shared` is scattered once to every worker (broadcast) and each task uses its worker's copy
(Dask's Active Memory Manager may drop a replica it thinks unneeded; that worker then fetches it
again from a peer, still not once per task). Tasks are submitted with pure=False, all at once
(the scheduler queues them), and yielded as they finish. The cluster's workers need modeldev
installed (the task wrapper and worker_fn are pickled by reference), and their operators cap
threads there (nthreads per worker, OMP_NUM_THREADS...): the driver cannot set a remote worker's
environment.

Timeouts are measured from the moment a task starts on a worker thread, which the worker reports
itself (an event logged at start, received by the driver), so time queued behind other tasks
never counts. A task past its timeout is yielded as timed out and its future cancelled, but Dask
cannot stop a running Python thread: the computation runs on in that worker thread until it
returns (its result is discarded) and keeps that slot busy meanwhile. For a hard limit, run the
workers with a memory limit or `--lifetime`. A task that never starts (every slot busy) never
times out. A worker that dies is Dask's business: it reruns the task elsewhere and, after its
`allowed-failures`, the task ends as "worker process died (KilledWorker: ...)".
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from modeldev.errors import InputError
from modeldev.execution.common import (
    TaskOutcome,
    TrialTask,
    WorkerFn,
    check_tasks,
    describe_error,
    run_task,
    warm_up,
)

_START_TOPIC = "modeldev-trial-start"
_POLL_S = 0.05


def _dask_task(worker_fn: WorkerFn, shared: Any, key: str, payload: Any,
               run_id: str) -> dict[str, Any]:
    """Runs on a Dask worker: report the start (for the driver's timeout clock), then the task."""
    from distributed import get_worker

    try:
        warm_up(shared)  # imports once per worker process; cheap afterwards
    except Exception as exc:  # a broken library: this task's error, not a worker crash
        return {"key": key, "result": None, "error": describe_error(exc), "traceback": None,
                "seconds": 0.0}
    with contextlib.suppress(ValueError):  # not on a worker: nobody to tell
        get_worker().log_event(_START_TOPIC, {"run": run_id, "key": key})
    return run_task(worker_fn, shared, key, payload)


def _connect(address: str, connect_timeout: float) -> Any:
    from distributed import Client

    try:
        return Client(address, timeout=connect_timeout, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address...
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise InputError(f"Could not connect to the Dask scheduler at {address}: {reason}.") \
            from exc


def _outcome(future: Any, key: str, started: float | None) -> TaskOutcome:
    try:
        return TaskOutcome(**future.result())
    except Exception as exc:  # the task wrapper never raises: Dask itself gave up on it
        error = describe_error(exc)
        if type(exc).__name__ == "KilledWorker":
            error = f"worker process died ({error})"
        seconds = time.monotonic() - started if started is not None else 0.0
        return TaskOutcome(key, error=error, seconds=seconds)


def _expired(live: dict[str, Any], started: dict[str, float],
             timeout: float | None) -> list[TaskOutcome]:
    """Cancel and report the tasks running longer than the timeout."""
    if timeout is None:
        return []
    now, outcomes = time.monotonic(), []
    for key in [k for k in live if k in started and now - started[k] > timeout]:
        live.pop(key).cancel()
        outcomes.append(TaskOutcome(key, error=f"timed out after {timeout:g} s", timed_out=True,
                                    seconds=now - started[key]))
    return outcomes


def _collect(client: Any, live: dict[str, Any], started: dict[str, float], timeout: float | None,
             should_stop: Callable[[], bool]) -> Iterator[TaskOutcome]:
    from distributed import as_completed

    by_dask_key = {future.key: key for key, future in live.items()}
    finished = as_completed(list(live.values()), loop=client.loop)
    while live and not should_stop():
        batch, outcomes = finished.next_batch(block=False), []
        for future in batch:
            key = by_dask_key[future.key]
            if live.pop(key, None) is not None:  # else: already reported as timed out
                outcomes.append(_outcome(future, key, started.get(key)))
        outcomes += _expired(live, started, timeout)
        yield from outcomes
        if not batch:
            time.sleep(_POLL_S)


def run_dask(tasks: Sequence[TrialTask], worker_fn: WorkerFn, shared: Any, address: str,
             timeout: float | None = None, should_stop: Callable[[], bool] = lambda: False,
             connect_timeout: float = 10.0) -> Iterator[TaskOutcome]:
    """Run tasks on the Dask cluster at `address`; yield outcomes as they complete.

    Arguments are checked at the call; the connection is made on the first `next()` and fails
    with InputError within about `connect_timeout` seconds.
    """
    check_tasks(tasks, timeout)
    return _iterate_dask(tasks, worker_fn, shared, address, timeout, should_stop,
                         connect_timeout)


def _iterate_dask(tasks: Sequence[TrialTask], worker_fn: WorkerFn, shared: Any, address: str,
                 timeout: float | None, should_stop: Callable[[], bool],
                 connect_timeout: float) -> Iterator[TaskOutcome]:
    """The generator behind `run_dask` (arguments already checked)."""
    if not tasks:
        return
    client = _connect(address, connect_timeout)
    run_id, started, live = uuid.uuid4().hex, {}, {}

    def on_start(event: tuple[float, dict[str, str]]) -> None:
        if event[1].get("run") == run_id:
            started[event[1]["key"]] = time.monotonic()

    try:
        client.subscribe_topic(_START_TOPIC, on_start)
        [shared_future] = client.scatter([shared], broadcast=True, hash=False)
        for task in tasks:
            live[task.key] = client.submit(_dask_task, worker_fn, shared_future, task.key,
                                           task.payload, run_id, pure=False)
        yield from _collect(client, live, started, timeout, should_stop)
    finally:
        with contextlib.suppress(Exception):
            client.cancel(list(live.values()))
            client.unsubscribe_topic(_START_TOPIC)
        client.close()
