"""The body of a local worker process: receive worker_fn and shared once, then serve tasks.

See `execution.local` for how the driver starts, feeds, times and kills these processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from modeldev.execution.common import (
    describe_error,
    run_task,
    set_reporter,
    traceback_tail,
    warm_up,
)


def _driver_ended(driver_pid: int) -> Callable[[], bool]:
    """A check that turns true once the driver has ended (a zombie counts as ended)."""
    try:
        handle = os.pidfd_open(driver_pid)
    except ProcessLookupError:
        return lambda: True
    except (AttributeError, OSError):  # no pidfd here: is the pid still there?
        def gone() -> bool:
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return gone
    return lambda: bool(select.select([handle], [], [], 0)[0])


def _watch_driver(driver_pid: int) -> None:
    """Exit when the driver is gone (SIGKILLed job), so no trial runs on as an orphan. The
    parent is the driver itself (spawn) or the fork server, which exits with its driver."""
    parent, ended = os.getppid(), _driver_ended(driver_pid)

    def watch() -> None:
        while os.getppid() == parent and not ended():
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="modeldev-parent-watch").start()


def _take_driver_setup(setup: dict[str, Any], stdout: int | None, stderr: int | None) -> None:
    """Become the driver's worker: its environment (thread caps included), its cores, its
    stdout and stderr, and the already loaded thread pools capped as the environment says."""
    os.environ.clear()
    os.environ.update(setup["environ"])
    if setup.get("cores") and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, setup["cores"])
    for target, fd in ((1, stdout), (2, stderr)):
        if fd is not None and fd != target:
            os.dup2(fd, target)
            os.close(fd)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=setup["threads"])  # BLAS and OpenMP loaded by the fork server


def _send_result(conn: Any, record: dict[str, Any]) -> None:
    try:
        conn.send(("done", record))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        error = f"The result could not be sent back: {describe_error(exc)}"
        record.update(result=None, error=error, traceback=traceback_tail())
        conn.send(("done", record))


def worker_main(conn: Any, driver_pid: int, stdout: int | None, stderr: int | None) -> None:
    """Body of a local worker process: take the driver's setup, load worker_fn and shared once,
    then serve tasks.

    The pickled setup, worker_fn and shared value are the first three messages on `conn` (see
    `execution.local`); `stdout` and `stderr` are the driver's, as descriptors.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # its own group: a kill reaches the trial's own subprocesses too
    _watch_driver(driver_pid)
    try:
        _take_driver_setup(pickle.loads(conn.recv_bytes()), stdout, stderr)
        worker_fn = pickle.loads(conn.recv_bytes())
        shared = pickle.loads(conn.recv_bytes())
        warm_up(shared)
    except EOFError:
        return  # the driver closed the pipe before sending shared: nothing to do
    except Exception as exc:  # reported to the driver, which raises it
        conn.send(("init_error", describe_error(exc)))
        return
    conn.send(("ready", None))
    set_reporter(lambda event: conn.send(("progress", event)))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        _send_result(conn, run_task(worker_fn, shared, *message))
