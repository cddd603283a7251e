"""New data read in chunks: never the whole table in memory.

CSV through pandas' `chunksize` (the C parser), Parquet through pyarrow's record batches,
only the columns the scorer asks for. The same refusals as a training table, before anything
is read (`data.caps`): empty and binary files, over-long headers, nested Parquet columns,
duplicate names; and, since pyarrow decodes a Parquet file one row group at a time, a row
group larger than the decoded-size budget (`MODELDEV_MAX_DECODED_MB`) is refused as well.
The row count (a bounded newline scan, or the footer) drives the progress bar.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modeldev.config import Limits
from modeldev.data import caps
from modeldev.data.loading import csv_header, refuse_duplicate_columns
from modeldev.errors import InputError

CSV_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Table:
    """A file to score: its kind, its columns and its rows (known before it is read)."""

    path: Path
    kind: str  # "csv" or "parquet"
    sep: str
    columns: list[str]
    rows: int

    def chunks(self, wanted: list[str], text: set[str], chunk_rows: int,
               limits: Limits) -> Iterator[pd.DataFrame]:
        """The `wanted` columns, `chunk_rows` rows at a time (CSV: `text` columns as read);
        never an empty chunk."""
        try:
            if self.kind == "parquet":
                found = _parquet_chunks(self.path, wanted, chunk_rows, limits)
            else:
                found = _csv_chunks(self.path, self.sep, wanted, text, chunk_rows)
            yield from (chunk for chunk in found if len(chunk))
        except (InputError, MemoryError):
            raise
        except Exception as exc:  # a malformed line or page: the parser's reason
            raise InputError(f"Could not read {self.path}: {_reason(exc)}.") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__).rstrip(".")


def open_table(path: str | Path, limits: Limits) -> Table:
    """The file at `path`, checked and counted (nothing decoded); InputError for a file that
    is not there, not a table, empty or refused by the caps."""
    p = Path(path).expanduser()
    try:
        mode = os.stat(p).st_mode
    except OSError:
        raise InputError(f"Could not read {p}: no such file.") from None
    if not stat.S_ISREG(mode):
        raise InputError(f"Could not read {p}: not a regular file.")
    suffix = p.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        shape = caps.parquet_shape(p, limits)
        columns = _parquet_columns(p)
        table = Table(p, "parquet", "", columns, int(shape.rows or 0))
    elif suffix in CSV_SUFFIXES:
        table = _csv_table(p, CSV_SUFFIXES[suffix], limits)
    else:
        raise InputError(f"Could not read {p}: expected a .csv or .parquet file, got "
                         f"'{suffix}'.")
    refuse_duplicate_columns(pd.Index(table.columns), p)
    if table.rows == 0:
        raise InputError(f"Could not read {p}: it has a header but no rows.")
    return table


def _csv_table(p: Path, sep: str, limits: Limits) -> Table:
    columns = csv_header(p, sep, limits)  # empty, binary, over-long and repeated refused
    if len(columns) > limits.max_columns:
        raise InputError(f"Too many columns: {p.name} has {len(columns):,} columns, the limit "
                         f"is {limits.max_columns:,}.")
    return Table(p, "csv", sep, columns, int(caps.csv_rows(p, sys.maxsize, sep) or 0))


def _parquet_columns(p: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [str(name) for name in pq.ParquetFile(p).schema_arrow.names]


def _csv_chunks(p: Path, sep: str, wanted: list[str], text: set[str],
                chunk_rows: int) -> Iterator[pd.DataFrame]:
    raw = pd.read_csv(p, sep=sep, nrows=0, encoding="utf-8-sig").columns
    names = {str(r): str(r).strip() for r in raw}  # the header as caps read it: stripped
    chosen = set(wanted)
    keep = {r for r, n in names.items() if n in chosen}
    dtypes = {r: "object" for r in keep if names[r] in text}
    reader = pd.read_csv(p, sep=sep, usecols=lambda r: r in keep, dtype=dtypes,
                         chunksize=chunk_rows, encoding="utf-8-sig", low_memory=False)
    with reader:
        for chunk in reader:
            yield chunk.rename(columns=names)


def _parquet_chunks(p: Path, wanted: list[str], chunk_rows: int,
                    limits: Limits) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(p)
    chosen = set(wanted)
    columns = [c for c in source.schema_arrow.names if c in chosen]
    _check_row_groups(source, p, columns, limits)
    for batch in source.iter_batches(batch_size=chunk_rows, columns=columns):
        yield batch.to_pandas()


def _check_row_groups(source: object, p: Path, columns: list[str], limits: Limits) -> None:
    """Refuse a row group whose chosen columns would decode past the budget: pyarrow holds
    one row group at a time."""
    meta = source.metadata  # type: ignore[attr-defined]
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    budget = limits.max_decoded_mb * 2**20
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        chosen = [group.column(index[c]) for c in columns if c in index]
        size = sum(group.num_rows * caps.VALUE_BYTES + max(0, c.total_uncompressed_size)
                   for c in chosen)
        if size > budget:
            raise InputError(f"Too large: row group {g} of {p.name} would take about "
                             f"{size / 2**20:,.0f} MiB in memory ({group.num_rows:,} rows), "
                             f"the limit is {limits.max_decoded_mb:,} MiB "
                             "(MODELDEV_MAX_DECODED_MB); write it with smaller row groups.")
