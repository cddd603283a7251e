"""Log tuning child runs from one background thread, so no trial ever waits for MLflow.

The trial loop hands each finished combination over (`submit`) and goes straight back to
dispatching work; the thread writes the child runs in arrival order, all that are waiting in one
call (a batch), so a store that falls behind catches up in fewer, larger writes. On a
2-core machine the driver's MLflow calls otherwise sat between one outcome and the next
(18 % of a 576-combination session's wall time, measured), waiting for a core the workers held.

What this costs: a result waits in memory until its child is logged (normally milliseconds).
The trial loop appends it to the tuning folder's results file first (`tuning.journal`), so a
driver killed with SIGKILL, or a store that stops answering, loses none: `--resume` logs them.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

MAX_PENDING = 1024  # back-pressure: a store slower than the trials makes submit() wait
MAX_BATCH = 256  # children written together when the thread has fallen behind
ABANDON_AFTER_S = 30.0  # on an error exit, how long queued children may still take

_STOP = object()


class ChildLogger:
    """A queue of children and the one thread that logs them, in batches, with `log_fn`."""

    def __init__(self, log_fn: Callable[[list[Any]], None], max_pending: int = MAX_PENDING,
                 on_exit: Callable[[], None] | None = None) -> None:
        self._log_fn = log_fn
        self._on_exit = on_exit  # run by the thread when it ends, e.g. to close its connection
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self.logged = 0
        self.cpu_seconds = 0.0  # the thread's own CPU time spent logging
        self.wait_seconds = 0.0  # time callers spent blocked in submit() and close()
        self._thread = threading.Thread(target=self._drain, daemon=True,
                                        name="modeldev-child-logger")
        self._thread.start()

    def _drain(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch and self._error is None and not self._abandon.is_set():
                started = time.thread_time()
                try:
                    self._log_fn(batch)
                    self.logged += len(batch)
                except BaseException as exc:  # noqa: BLE001 (handed to the trial loop's thread)
                    self._error = exc
                self.cpu_seconds += time.thread_time() - started
            if stop:
                if self._on_exit is not None:
                    with contextlib.suppress(Exception):  # nothing left to lose by then
                        self._on_exit()
                return

    def _next_batch(self) -> tuple[list[Any], bool]:
        """Wait for one item, then take what else is queued; True once the stop mark is seen."""
        items = [self._queue.get()]
        while len(items) < MAX_BATCH and items[-1] is not _STOP:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if items[-1] is _STOP:
            return items[:-1], True
        return items, False

    def submit(self, item: Any) -> None:
        """Queue one child for logging; raise the logging error if an earlier one failed."""
        self._raise_error()
        started = time.perf_counter()
        self._queue.put(item)
        self.wait_seconds += time.perf_counter() - started

    def close(self, timeout: float | None = None) -> bool:
        """Log what is queued and stop the thread; False if `timeout` ran out first."""
        started = time.perf_counter()
        try:
            self._queue.put(_STOP, timeout=timeout)
            left = None if timeout is None else timeout - (time.perf_counter() - started)
            self._thread.join(None if left is None else max(0.0, left))
        except queue.Full:
            pass
        self.wait_seconds += time.perf_counter() - started
        if not self._thread.is_alive():
            return True
        self._abandon.set()  # the daemon thread drops the rest and ends by itself
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=1.0)
        return False

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> ChildLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
            self._raise_error()
        else:  # the loop's own error wins; queued results still get a bounded chance
            self.close(ABANDON_AFTER_S)
