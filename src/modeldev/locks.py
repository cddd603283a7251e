"""A resume lock per run: two resumes of one parent cannot both run.

The lock is an exclusive `flock` on `<workspace>/locks/<run_id>.lock`, held while the resumed
session runs. The kernel drops it when its file is closed, so it dies with its process (a
SIGKILL included) and never needs cleaning. It guards the processes sharing one workspace; a
session resumed from another machine is refused by the run's liveness instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from modeldev.errors import InputError
from modeldev.tracking.support import checked_run_id


@contextlib.contextmanager
def resume_lock(workspace: Path, run_id: str | None) -> Iterator[None]:
    """Hold run_id's resume lock for the block (nothing to hold when run_id is None)."""
    if not run_id:
        yield
        return
    folder = workspace / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{checked_run_id(run_id)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"Run {run_id} is already being resumed by another process; wait "
                             "for it to end.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
