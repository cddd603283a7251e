"""Run tasks on a pool of local worker processes (`run_local`).

Workers fork from a server process that imported the scientific stack once, with the driver's
environment, thread caps, cores and stdout/stderr (`execution.start`). `shared` is pickled once
in the driver and unpickled once in each worker, after the caps are set. Each worker gets one
task at a time, so a slow task holds no queue. Each worker leads its own process group: a
timeout or a close kills the group (a trial's own subprocesses included), workers ignore the
terminal's Ctrl-C (the driver decides), and a worker whose driver vanished (SIGKILL) exits by
itself within a second (the server exits with its driver too).

Start-up never hangs the driver. The process arguments stay small: the start method writes them
into a pipe whose read end the driver itself holds until the write ends, so a child dying before
it had read more than the pipe's 64 KiB blocked `Process.start()` forever (seen: a `<defunct>`
worker and a stuck driver when `__main__` came from stdin). The worker's setup, worker_fn and
`shared` go over the worker's own socket from a sender thread instead, where a dead child makes
the send fail, while the driver's loop watches the process and gives up after a few deaths at
start.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from modeldev.errors import InputError, ModeldevError
from modeldev.execution.common import TaskOutcome, TrialTask, WorkerFn, check_tasks, thread_caps
from modeldev.execution.start import (
    child_environment,
    start_method,
    start_worker_server,
    std_stream,
    worker_setup,
)
from modeldev.execution.worker import worker_main

_POLL_S = 0.1  # how often should_stop and timeouts are checked while waiting
_START_RETRIES = 2  # workers dying before they are ready, in a row, before giving up


@dataclass
class _Worker:
    process: Any
    conn: Any
    ready: bool = False
    task: TrialTask | None = None
    started: float = 0.0
    sender: threading.Thread | None = None


def _send_blobs(conn: Any, blobs: tuple[bytes, ...]) -> None:
    """Sender thread body: a child that died closes its end, so this fails instead of hanging."""
    with contextlib.suppress(OSError, ValueError, TypeError):  # dead child or closed pipe
        for blob in blobs:
            conn.send_bytes(blob)


def _kill(worker: _Worker) -> None:
    """Kill a worker and its process group now, and reap it."""
    process = worker.process
    if process.exitcode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (AttributeError, ProcessLookupError, PermissionError):
            process.kill()  # not yet in its own group, or not POSIX
    process.join(timeout=5)
    if worker.sender is not None:  # its peer is gone, so the send has failed or will at once
        worker.sender.join(timeout=5)
    worker.conn.close()


def _death_message(code: int | None) -> str:
    message = f"worker process died (exit code {code})"
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            message += f": killed by {signal.Signals(-code).name}"
    return message


class _LocalPool:
    """The driver's view of its worker processes."""

    def __init__(self, worker_fn: WorkerFn, shared: Any, threads: int,
                 on_progress: Callable[[dict[str, Any]], None]) -> None:
        self.context: Any = multiprocessing.get_context(start_method())
        self.on_progress = on_progress
        self.threads = threads
        self.caps = thread_caps(threads)
        try:
            self.fn_blob = pickle.dumps(worker_fn, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(f"worker_fn must be a module-level function: {exc}") from exc
        self.shared_blob = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
        self.workers: list[_Worker] = []
        self.start_failures = 0

    def spawn(self) -> None:
        """Start one worker process."""
        start_worker_server()
        driver_end, worker_end = self.context.Pipe(duplex=True)
        process = self.context.Process(
            target=worker_main, daemon=True, name="modeldev-trial-worker",
            args=(worker_end, os.getpid(), std_stream(1), std_stream(2)))
        with child_environment(self.caps):
            process.start()
        worker_end.close()
        blobs = (worker_setup(self.caps, self.threads), self.fn_blob, self.shared_blob)
        sender = threading.Thread(target=_send_blobs, args=(driver_end, blobs),
                                  daemon=True, name="modeldev-send-shared")
        sender.start()
        self.workers.append(_Worker(process, driver_end, sender=sender))

    def dispatch(self, pending: deque[TrialTask]) -> None:
        """Give the next pending task to every ready, idle worker."""
        for worker in self.workers:
            if pending and worker.ready and worker.task is None:
                task, worker.started = pending.popleft(), time.monotonic()
                try:
                    worker.conn.send((task.key, task.payload))
                except OSError:  # it just died: poll() retires it, the task waits for another
                    pending.appendleft(task)
                else:
                    worker.task = task

    def poll(self, timeout: float | None) -> list[TaskOutcome]:
        """Wait briefly for results, deaths and timeouts; return the tasks they ended."""
        watched = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
        multiprocessing.connection.wait(watched, timeout=self._wait_s(timeout))
        outcomes = []
        for worker in list(self.workers):
            outcome = self._service(worker, timeout)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _wait_s(self, timeout: float | None) -> float:
        if timeout is None:
            return _POLL_S
        busy = [w.started + timeout - time.monotonic() for w in self.workers if w.task]
        return max(0.0, min([_POLL_S, *busy]))

    def _service(self, worker: _Worker, timeout: float | None) -> TaskOutcome | None:
        try:
            while worker.conn.poll():
                kind, body = worker.conn.recv()
                if kind == "init_error":
                    raise ModeldevError(f"A tuning worker process could not start: {body}.")
                if kind == "ready":
                    worker.ready, self.start_failures = True, 0
                elif kind == "progress":
                    self.on_progress(body)
                else:
                    worker.task = None
                    return TaskOutcome(**body)
        except (EOFError, OSError):
            pass  # the pipe broke: the process is dying, handled below
        if worker.process.exitcode is not None or worker.conn.closed:
            return self._retire(worker, _death_message(worker.process.exitcode), timed_out=False)
        if worker.task and timeout is not None and time.monotonic() - worker.started > timeout:
            return self._retire(worker, f"timed out after {timeout:g} s", timed_out=True)
        return None

    def _retire(self, worker: _Worker, error: str, timed_out: bool) -> TaskOutcome | None:
        _kill(worker)
        self.workers.remove(worker)
        if worker.task is None:
            if not worker.ready:
                self.start_failures += 1
                if self.start_failures > _START_RETRIES:
                    raise ModeldevError(
                        f"Worker processes keep dying at start ({error}); a script that runs "
                        "modeldev's engine must keep its own code under "
                        "`if __name__ == \"__main__\":`, or every worker runs it again.")
            return None
        seconds = time.monotonic() - worker.started
        return TaskOutcome(worker.task.key, error=error, timed_out=timed_out, seconds=seconds)

    def refill(self, wanted: int) -> None:
        """Start workers until `wanted` are alive (replacing killed or dead ones)."""
        while len(self.workers) < wanted:
            self.spawn()

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are killed."""
        for worker in self.workers:
            if worker.task is None and worker.ready:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                _kill(worker)
        for worker in self.workers:
            worker.process.join(timeout=2)
            _kill(worker)
        self.workers = []


def run_local(tasks: Sequence[TrialTask], worker_fn: WorkerFn, shared: Any, workers: int,
              threads_per_worker: int, timeout: float | None = None,
              should_stop: Callable[[], bool] = lambda: False,
              on_progress: Callable[[dict[str, Any]], None] | None = None,
              skip: Callable[[TrialTask], bool] | None = None) -> Iterator[TaskOutcome]:
    """Run tasks on `workers` local processes; yield outcomes as they complete.

    Arguments are checked at the call (InputError); processes start on the first `next()` and
    are all gone when the generator ends, stops (`should_stop()` true) or is closed early.
    Events a task sends with `common.report` reach `on_progress` in this thread. A waiting
    task for which `skip(task)` has become true is dropped unrun and yields nothing.
    """
    check_tasks(tasks, timeout)
    if workers < 1:
        raise InputError(f"The number of workers must be at least 1, not {workers}.")
    thread_caps(threads_per_worker)
    start_method()  # a bad MODELDEV_WORKER_START is refused here, not in the first worker
    return _iterate_local(tasks, worker_fn, shared, workers, threads_per_worker, timeout,
                          should_stop, on_progress or _drop, skip or _keep)


def _drop(_event: dict[str, Any]) -> None:
    return None


def _keep(_task: TrialTask) -> bool:
    return False


def _iterate_local(tasks: Sequence[TrialTask], worker_fn: WorkerFn, shared: Any, workers: int,
                   threads: int, timeout: float | None, should_stop: Callable[[], bool],
                   on_progress: Callable[[dict[str, Any]], None],
                   skip: Callable[[TrialTask], bool]) -> Iterator[TaskOutcome]:
    """The generator behind `run_local` (arguments already checked)."""
    pending, remaining = deque(tasks), len(tasks)
    if not remaining:
        return
    pool = _LocalPool(worker_fn, shared, threads, on_progress)
    try:
        while not should_stop():
            kept = deque(task for task in pending if not skip(task))
            remaining, pending = remaining - (len(pending) - len(kept)), kept
            if not remaining:
                break
            busy = sum(1 for w in pool.workers if w.task is not None)
            pool.refill(min(workers, busy + len(pending)))
            outcomes = pool.poll(timeout)
            pool.dispatch(pending)  # before yielding: workers keep busy while the caller logs
            for outcome in outcomes:
                remaining -= 1
                yield outcome
                if should_stop():
                    return
    finally:
        pool.close()
