"""A `modeldev train|tune` session's terminal: progress there, everything else in a log file.

While the engine runs, file descriptors 1 and 2 point at the session's log,
`<workspace>/logs/<UTC time>_<command>_<pid>.log`: MLflow's INFO lines, Python warnings and
tracebacks, TensorFlow's C++ start-up lines (written to descriptor 2 directly, past Python's
`sys.stderr`) and whatever the worker processes print (each is handed both descriptors) all
land there. The progress display writes to a duplicate of the original stderr, so a progress bar
on the real terminal still works. Both descriptors are restored before the result is printed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from modeldev.config import Settings


@dataclass(frozen=True)
class TerminalSession:
    """Where a session reports: the real terminal (stderr) and the session's log file."""

    terminal: TextIO
    log_path: Path | None


def log_path(settings: Settings, command: str) -> Path:
    """A new session log's path: `<workspace>/logs/<UTC time>_<command>_<pid>.log`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.logs_dir / f"{stamp}_{command}_{os.getpid()}.log"


@contextmanager
def session_log(settings: Settings, command: str) -> Iterator[TerminalSession]:
    """Send descriptors 1 and 2 to a new session log while the block runs; yield the terminal."""
    path = log_path(settings, command)
    try:
        log_fd, saved = _open_log(path)
    except OSError as exc:  # an unwritable workspace is reported by the engine, not here
        print(f"modeldev: no session log ({exc}); engine messages stay on stderr",
              file=sys.stderr, flush=True)
        yield TerminalSession(sys.stderr, None)
        return
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding=encoding,
                         errors="replace")
    try:
        for fd in (1, 2):
            os.dup2(log_fd, fd)
        yield TerminalSession(terminal, path)
    except BaseException:
        traceback.print_exc()  # the whole story goes to the log; the CLI prints one line
        raise
    finally:
        _flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log_fd)
        terminal.close()


def _open_log(path: Path) -> tuple[int, dict[int, int]]:
    """The log's descriptor and copies of descriptors 1 and 2 (not inherited by workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _flush()
    saved: dict[int, int] = {}
    try:
        for fd in (1, 2):
            saved[fd] = os.dup(fd)
    except OSError:
        for copy in (log_fd, *saved.values()):
            os.close(copy)
        raise
    return log_fd, saved


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
