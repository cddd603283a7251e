"""Whether a process is still the one that started a job or a run (Linux /proc, else kill 0)."""

from __future__ import annotations

import os
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
