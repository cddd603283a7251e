"""The body of a local worker process: receive worker_fn and shared once, then serve tasks.

See `execution.local` for how the driver starts, feeds, times and kills these processes.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from typing import Any

from modeldev.execution.common import (
    describe_error,
    run_task,
    set_reporter,
    traceback_tail,
    warm_up,
)


def _watch_parent(parent_pid: int) -> None:
    """Exit when the driver is gone (SIGKILLed job), so no trial runs on as an orphan."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="modeldev-parent-watch").start()


def _send_result(conn: Any, record: dict[str, Any]) -> None:
    try:
        conn.send(("done", record))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        error = f"The result could not be sent back: {describe_error(exc)}"
        record.update(result=None, error=error, traceback=traceback_tail())
        conn.send(("done", record))


def worker_main(conn: Any, parent_pid: int, caps: dict[str, str]) -> None:
    """Body of a local worker process: load worker_fn and shared once, then serve tasks.

    The pickled worker_fn and shared value are the first two messages on `conn` (see the module
    docstring).
    """
    os.environ.update(caps)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # its own group: a kill reaches the trial's own subprocesses too
    _watch_parent(parent_pid)
    try:
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
