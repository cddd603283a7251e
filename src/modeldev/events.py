"""Typed progress events shared by the engine, the CLI display and job folders."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
EventSink = Callable[[Event], None]

# Event types, in the order a session emits them.
SESSION_STARTED = "session_started"
FRAMEWORK_STARTED = "framework_started"
EPOCH = "epoch"
FOLD_FINISHED = "fold_finished"
FRAMEWORK_FINISHED = "framework_finished"
FRAMEWORK_FAILED = "framework_failed"
TRIAL_FINISHED = "trial_finished"
NOTICE = "notice"
SESSION_FINISHED = "session_finished"


def make_event(kind: str, **fields: Any) -> Event:
    """An event dict with its type and a wall-clock timestamp."""
    return {"type": kind, "time": time.time(), **fields}


def discard(_event: Event) -> None:
    """An event sink that drops everything."""
    return None


class Cancelled(Exception):  # noqa: N818 - reads better at call sites than CancelledError
    """The session was asked to stop (cancel button, SIGTERM, SIGINT)."""


def install_stop_handlers() -> Callable[[], bool]:
    """SIGTERM/SIGINT stop the session cleanly (runs end KILLED); returns the stop flag."""
    state = {"stop": False}

    def handler(signum: int, _frame: object) -> None:
        state["stop"] = True
        raise Cancelled(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: state["stop"]
