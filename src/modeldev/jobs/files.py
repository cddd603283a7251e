"""The job folder's streams: events.jsonl (append-only, one whole line per event) and job.log."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from modeldev.artifacts import atomic_write_text, to_jsonable

EVENTS, LOG = "events.jsonl", "job.log"
JOB_ENDED = "job_ended"  # the runner's last word: how the job ended, written before status.json
HEARTBEAT = "heartbeat"  # epoch seconds, refreshed by the live job (other hosts read it)
_TRACEBACK_START = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct")


def append_event(folder: Path, event: dict[str, Any]) -> None:
    """Append one event as one whole line in one write() on an O_APPEND descriptor.

    Writers never interleave inside a line, and readers take only lines ended by a newline.
    A short write (a full disk) gets its torn line closed by a newline, which readers skip as
    damaged, and raises: the next event starts on a line of its own.
    """
    line = (json.dumps(_plain(event), ensure_ascii=False, allow_nan=False) + "\n").encode()
    fd = os.open(folder / EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            with contextlib.suppress(OSError):
                os.write(fd, b"\n")
            raise OSError(f"only {written} of {len(line)} bytes of an event reached {EVENTS}")
    finally:
        os.close(fd)


def beat(folder: Path, now: float) -> None:
    """Refresh the job's heartbeat file (replaced whole: a reader never sees half of it)."""
    atomic_write_text(folder / HEARTBEAT, f"{now:.3f}\n")


def last_beat(folder: Path) -> str | None:
    """The job's last heartbeat as written (epoch seconds), or None without one."""
    try:
        return (folder / HEARTBEAT).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def last_outcome(folder: Path) -> dict[str, Any] | None:
    """The job's `job_ended` event (state, ended_at, error, result), or None if it has none."""
    events, _ = read_events(folder)
    return next((e for e in reversed(events) if e.get("type") == JOB_ENDED), None)


def _plain(event: dict[str, Any]) -> Any:
    try:
        return to_jsonable(event)
    except TypeError:  # an odd value in an event must not stop a job: write it as text
        return to_jsonable(json.loads(json.dumps(event, default=str)))


def read_events(folder: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete events from byte `offset` on, and the offset to read from next time."""
    try:
        with open(folder / EVENTS, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # a partial last line waits for its newline
    events = []
    for line in complete.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a damaged line is skipped, never fatal to a reader
    return events, offset + len(complete)


def log_tail(folder: Path, lines: int = 40, tracebacks: bool = True) -> str:
    """The last `lines` lines of the job's log (without `tracebacks`: each one folded into
    the line that names its error, for a page; the log itself keeps them)."""
    path = folder / LOG
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            chunk = 1 << 14
            while True:
                fh.seek(max(0, size - chunk))
                data = fh.read()
                if chunk >= size or data.count(b"\n") > lines:
                    break
                chunk *= 4
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = text.splitlines() if tracebacks else fold_tracebacks(text.splitlines())
    return "\n".join(kept[-lines:]) if lines > 0 else ""


def fold_tracebacks(lines: list[str]) -> list[str]:
    """`lines` with every Python traceback reduced to its last line (the error and its
    message), marked as kept in the server's log; a chain of them gives one line each."""
    out: list[str] = []
    inside = after = False
    for line in lines:
        if line.startswith(_TRACEBACK_START):
            inside = True
        elif inside and line[:1].isspace():
            continue
        elif inside:
            out.append(f"{line}  [traceback in the server's log]")
            inside, after = False, True
        elif after and (not line.strip() or line.startswith(_CHAINED)):
            continue
        else:
            out.append(line)
            after = False
    return out
