"""Parsing a user's file in a child process whose address space is limited (RLIMIT_AS).

The caps (`data.caps`) judge a file by what it declares; a file can lie (text whose footer
claims a few bytes, a dictionary page repeated millions of times). So where one process
serves everyone (the app), the parse runs in `python -m modeldev.data.isolated`: it sets its
own memory limit to about twice the decoded-size budget above what its imports already took,
parses, and hands the table back as an Arrow IPC file. A file that needs more than that kills
the parse with a MemoryError (or the child outright), never the app.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from modeldev.config import Limits
from modeldev.data.parsing import parse_file
from modeldev.errors import EXIT_BAD_INPUT, InputError

PARSE_TIMEOUT_S = 900.0
HEADROOM_BYTES = 256 << 20  # the parser's own buffers and threads beyond the table
EXIT_OUT_OF_MEMORY = 3
_CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}  # no per-thread arenas to reserve


def memory_limit(vm_bytes: int, limits: Limits) -> int:
    """The child's address-space limit: what it holds now, twice the budget, and headroom."""
    return vm_bytes + 2 * limits.max_decoded_mb * 2**20 + HEADROOM_BYTES


def parse_in_child(p: Path, kind: str, sep: str, limits: Limits) -> pd.DataFrame:
    """The table in `p` (`kind` csv or parquet), parsed by a memory-limited child process."""
    with tempfile.TemporaryDirectory(prefix="modeldev-parse-") as tmp:
        out = Path(tmp) / "table.arrow"
        cmd = [sys.executable, "-m", "modeldev.data.isolated", str(p), kind, sep, str(out),
               str(limits.max_decoded_mb)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=PARSE_TIMEOUT_S, env={**os.environ, **_CHILD_ENV})
        except subprocess.TimeoutExpired:
            raise InputError(f"Could not read {p}: parsing it took more than "
                             f"{PARSE_TIMEOUT_S:.0f} s.") from None
        if done.returncode == 0 and out.stat().st_size <= limits.max_decoded_mb * 2**20:
            return _read_back(out)
        if done.returncode == EXIT_BAD_INPUT:
            raise InputError(json.loads(done.stdout.strip().splitlines()[-1])["error"])
        if done.returncode in (0, EXIT_OUT_OF_MEMORY) or done.returncode < 0:
            raise InputError(f"Could not read {p}: decoded, it needs more than the "
                             f"{limits.max_decoded_mb:,} MiB this app allows "
                             "(MODELDEV_MAX_DECODED_MB), more than its size declares.")
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise InputError(f"Could not read {p}: {last[:300]}.")


def _read_back(out: Path) -> pd.DataFrame:
    """The child's table, memory-mapped while pandas copies it out (no second copy)."""
    import pyarrow.feather as feather

    return feather.read_table(out, memory_map=True).to_pandas()


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        found = re.search(r"VmSize:\s+(\d+) kB", fh.read())
    return int(found.group(1)) * 1024 if found else 0


def main(argv: list[str]) -> int:
    """The child: limit its own memory, parse, write the table as Arrow IPC; exit 0, 2 or 3."""
    import resource

    import pyarrow as pa
    import pyarrow.feather  # noqa: F401 - everything the parse and the write need, loaded
    import pyarrow.parquet  # noqa: F401 - before the limit is measured and set

    path, kind, sep, out, budget_mb = argv
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    limit = memory_limit(_vm_bytes(), Limits(max_decoded_mb=int(budget_mb)))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        frame = parse_file(Path(path), kind, sep)
        frame.reset_index(drop=True).to_feather(out, compression="uncompressed")
    except InputError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return EXIT_BAD_INPUT
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
