"""The results in hand: each finished combination appended to the tuning folder as it arrives.

The trial loop appends a group's finished combinations (each its child's record and tags, one
JSON line) to `trial_results.jsonl` in one `os.write` on a descriptor opened with O_APPEND, then
fsyncs, before handing them to the child logger. So a store that stays locked, a tracking server
that stops answering, or a driver killed with SIGKILL loses no finished result: `--resume` logs
the combinations of the file that the store lacks instead of running them again.

A line cut short by a crash mid-write is not valid JSON and is skipped on reading; its
combination then simply runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

RESULTS_FILE = "trial_results.jsonl"

Kept = tuple[dict[str, Any], dict[str, str]]  # (trial record, its tags), as the logger gets them


class ResultsJournal:
    """The append-only results file of one tuning folder, open for this session's appends."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / RESULTS_FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, children: list[Kept]) -> None:
        """Append whole lines, one per child, in one write; on disk (fsynced) when it returns."""
        if not children:
            return
        data = "".join(json.dumps({"record": record, "tags": tags}, sort_keys=True) + "\n"
                       for record, tags in children).encode()
        view = memoryview(data)
        while view:  # a regular file takes it in one write; a short write is finished anyway
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsJournal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_results(folder: Path) -> dict[str, Kept]:
    """The combinations kept in `folder`'s results file, by hash (empty if there is none)."""
    path = folder / RESULTS_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    kept: dict[str, Kept] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
            record, tags = item["record"], item["tags"]
            kept[str(record["hash"])] = (record, tags)
        except (ValueError, TypeError, KeyError):
            continue  # a line torn by a crash mid-write: that combination runs again
    return kept
