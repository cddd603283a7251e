"""Whether a process is still the one that started a job or a run: /proc (else kill 0) on this
host, and a heartbeat (a timestamp the live process refreshes) from any host."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


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


class Heartbeat:
    """One daemon thread per process calling each registered beat every `interval` seconds.

    A beat refreshes a timestamp that other processes read (a run tag): one that stops being
    refreshed for longer than a grace period belongs to a process that is gone, wherever it ran.
    A failing beat is retried at the next interval; it never stops the others.
    """

    def __init__(self) -> None:
        self._beats: dict[str, tuple[Callable[[float], None], float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: str, beat: Callable[[float], None], interval: float) -> None:
        """Call `beat(time.time())` every `interval` seconds from now on, until `remove(key)`."""
        with self._lock:
            self._beats[key] = (beat, interval)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="modeldev-heartbeat",
                                                daemon=True)
                self._thread.start()
        self._wake.set()  # a new, shorter interval counts from now

    def remove(self, key: str) -> None:
        """Stop beating `key` (its run ended)."""
        with self._lock:
            self._beats.pop(key, None)

    def keys(self) -> list[str]:
        """The keys beating now."""
        with self._lock:
            return list(self._beats)

    def _forget(self) -> None:
        """In a forked child: the parent's beats are not this process's to keep alive."""
        self._beats, self._lock, self._thread = {}, threading.Lock(), None
        self._wake = threading.Event()

    def _run(self) -> None:
        due: dict[str, float] = {}
        while True:
            self._wake.clear()  # before the snapshot: a beat added after it wakes the wait
            with self._lock:
                beats = dict(self._beats)
            wait = 60.0
            for key, (beat, interval) in beats.items():
                if time.monotonic() >= due.setdefault(key, time.monotonic() + interval):
                    with contextlib.suppress(Exception):
                        beat(time.time())
                    due[key] = time.monotonic() + interval
                wait = min(wait, due[key] - time.monotonic())
            for key in set(due) - set(beats):
                del due[key]
            self._wake.wait(max(wait, 0.01))


HEARTBEAT = Heartbeat()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HEARTBEAT._forget)  # noqa: SLF001 - its own module


def heartbeat_stale(tags_beat: str | None, now: float, grace: float) -> bool | None:
    """Whether a heartbeat written as epoch seconds is older than `grace` (None: no heartbeat)."""
    try:
        beat = float(tags_beat) if tags_beat is not None else None
    except ValueError:
        beat = None
    return None if beat is None else now - beat > grace
