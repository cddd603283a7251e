"""Paths a browser user names: confined to the data roots, and read only as small regular files.

A path outside `MODELDEV_DATA_ROOTS` gets one sentence whether or not it exists, so the app
tells nothing about the server's files. Symlinks are resolved first: a link inside a root
that points outside it is outside.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from modeldev.errors import InputError

CONTEXT_MAX_BYTES = 1 << 20  # a pipeline_context.json is a few KiB


def confine(path: str | Path, roots: Sequence[str | Path]) -> Path:
    """`path` resolved, when it lies under one of `roots`; else the refusal, the same sentence
    whether the path exists or not."""
    raw = str(path).strip()
    try:
        resolved = Path(raw).expanduser().resolve()
        for root in roots:
            if resolved.is_relative_to(Path(root).expanduser().resolve()):
                return resolved
    except (OSError, RuntimeError, ValueError):
        pass  # a loop of links or an odd name: outside, like any other
    raise InputError(f"{raw} is outside the folders this app reads data from "
                     "(MODELDEV_DATA_ROOTS).")


def read_small_file(path: Path, cap: int = CONTEXT_MAX_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `cap` bytes; a device, a named pipe, a folder or
    a larger file is refused before anything is read (opened without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"Could not read {what} {path}: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"Could not read {what} {path}: it is not a regular file.")
        if info.st_size > cap:
            raise InputError(f"Could not read {what} {path}: it holds {info.st_size:,} bytes, "
                             f"the limit is {cap:,}.")
        chunks, left = [], cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:  # it grew since fstat
        raise InputError(f"Could not read {what} {path}: it is larger than {cap:,} bytes.")
    return data
