"""Scored rows written chunk by chunk: CSV (formula-like cells escaped, as every CSV modeldev
writes) or Parquet, into a hidden file beside the output that replaces it only once every row
is in. A failure leaves no half-written file, and no earlier output half replaced.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Self

import pandas as pd

from modeldev.artifacts import escape_frame
from modeldev.errors import InputError

SUFFIXES = (".csv", ".parquet")


def check_output(path: str | Path, source: Path | None = None) -> Path:
    """The output path, when modeldev can write it there: a .csv or .parquet file in an
    existing folder, not the input file itself."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in SUFFIXES:
        raise InputError(f"Cannot write {p}: the output must end in .csv or .parquet.")
    if not p.parent.is_dir():
        raise InputError(f"Cannot write {p}: folder {p.parent} does not exist.")
    if p.is_dir():
        raise InputError(f"Cannot write {p}: it is a folder.")
    if source is not None and p.resolve() == source.resolve():
        raise InputError(f"Cannot write {p}: it is the file being scored.")
    return p


class Output:
    """An output file being written: `write` each chunk, then `commit`; leaving the block
    without a commit removes what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        self._tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        os.close(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask
        self._fh: Any = None
        self._writer: Any = None
        self._schema: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk of scored rows."""
        if self.parquet:
            self._write_parquet(frame)
        else:
            if self._fh is None:
                self._fh = self._tmp.open("w", encoding="utf-8", newline="")
            escape_frame(frame).to_csv(self._fh, index=False, header=self.rows == 0)
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._writer.write_table(table)

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> Path:
        """Close the file and put it in place of the output."""
        self._close()
        os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._close()
        self._tmp.unlink(missing_ok=True)
