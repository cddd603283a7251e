"""The background logger of tuning children: order, flush, errors, back-pressure, abandon."""

from __future__ import annotations

import threading

import pytest

from modeldev.errors import TrackingError
from modeldev.tuning.child_logger import MAX_BATCH, ChildLogger


class Gate:
    """A log function that holds every write until released, then records (or fails) it."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    def __call__(self, batch: list[int]) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.fail_on in batch:
            raise TrackingError("MLflow failed logging at sqlite:///x: disk full.")
        self.batches.append(batch)

    def seen(self) -> list[int]:
        """Every item written, in order."""
        return [i for batch in self.batches for i in batch]

    def hold_first(self, logger: ChildLogger) -> None:
        """Submit 0 and wait until the thread is inside its write, so later items queue."""
        logger.submit(0)
        assert self.entered.wait(5)


def test_every_item_is_logged_in_order_by_another_thread():
    seen: list[tuple[int, str]] = []

    def log(batch: list[int]) -> None:
        seen.extend((i, threading.current_thread().name) for i in batch)

    with ChildLogger(log) as logger:
        for i in range(200):
            logger.submit(i)
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"modeldev-child-logger"}
    assert logger.logged == 200


def test_items_queued_while_a_write_runs_go_together_in_the_next_batch():
    gate = Gate()
    with ChildLogger(gate) as logger:
        gate.hold_first(logger)
        for i in range(1, 6):
            logger.submit(i)
        gate.release.set()
    assert gate.batches == [[0], [1, 2, 3, 4, 5]]


def test_a_logging_error_reaches_the_loop_at_the_next_submit():
    gate = Gate(fail_on=3)
    logger = ChildLogger(gate)
    gate.hold_first(logger)
    for i in range(1, 4):
        logger.submit(i)  # queued behind 0: one batch [1, 2, 3], which fails
    gate.release.set()
    logger.close()
    with pytest.raises(TrackingError, match="disk full"):
        logger.submit(4)
    assert gate.seen() == [0] and logger.logged == 1


def test_a_long_backlog_is_written_in_batches_of_at_most_max_batch():
    gate = Gate()
    with ChildLogger(gate) as logger:
        gate.hold_first(logger)
        for i in range(1, MAX_BATCH + 11):
            logger.submit(i)
        gate.release.set()
    assert [len(b) for b in gate.batches] == [1, MAX_BATCH, 10]
    assert logger.logged == MAX_BATCH + 11


def test_on_exit_runs_in_the_logging_thread_after_the_last_batch():
    events: list[tuple[str, str]] = []
    with ChildLogger(lambda batch: events.append(("log", threading.current_thread().name)),
                     on_exit=lambda: events.append(
                         ("exit", threading.current_thread().name))) as logger:
        logger.submit(1)
    assert events == [("log", "modeldev-child-logger"), ("exit", "modeldev-child-logger")]


def test_a_logging_error_is_raised_when_the_loop_ends_cleanly():
    def log(batch: list[int]) -> None:
        raise TrackingError("MLflow failed starting a run: database is locked.")

    with pytest.raises(TrackingError, match="database is locked"), ChildLogger(log) as logger:
        logger.submit(1)


def test_the_loops_own_error_wins_and_queued_items_are_still_logged():
    seen: list[int] = []
    with pytest.raises(KeyboardInterrupt), ChildLogger(seen.extend) as logger:
        for i in range(5):
            logger.submit(i)
        raise KeyboardInterrupt
    assert seen == [0, 1, 2, 3, 4]


def test_a_full_queue_makes_submit_wait_and_loses_nothing():
    gate = Gate()
    logger = ChildLogger(gate, max_pending=1)
    gate.hold_first(logger)  # taken by the thread, which blocks in the gate
    logger.submit(1)  # fills the queue
    blocked = threading.Thread(target=logger.submit, args=(2,))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # waiting for room
    gate.release.set()
    blocked.join(5)
    assert logger.close()
    assert gate.seen() == [0, 1, 2]


def test_a_hung_store_is_abandoned_after_the_timeout():
    gate = Gate()
    logger = ChildLogger(gate)
    gate.hold_first(logger)
    logger.submit(1)
    assert logger.close(timeout=0.2) is False
    gate.release.set()
    logger._thread.join(5)
    assert not logger._thread.is_alive()
    assert logger.logged == 1  # the queued item was dropped, not logged after the give-up
