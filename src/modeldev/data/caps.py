"""What a table will cost, known before it is read: rows, physical columns and decoded bytes.

Parquet: from the footer alone, its length bounded first, every physical column counted
(whatever the file's own pandas metadata calls an index) and nested columns refused. CSV: the
header from a bounded first chunk, the rows from a newline count that stops past the cap. The
decoded size is an estimate (rows x columns x bytes per value, plus the text a file declares);
a file that lies about it is caught by the memory limit of the child that parses it
(`data.isolated`).
"""

from __future__ import annotations

import csv
import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

from modeldev.config import Limits
from modeldev.errors import InputError

_SCAN_CHUNK = 1 << 20
VALUE_BYTES = 8  # a number, flag, date or text reference as pandas holds it
FOOTER_BYTES_PER_COLUMN = 8 << 10  # generous: a few row groups of statistics per column
HEADER_BYTES_PER_COLUMN = 512
MIN_METADATA_BYTES = 1 << 20
_TEXT_TYPES = ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")


@dataclass(frozen=True)
class Shape:
    """A table's rows (None: more than the cap), physical columns and decoded-size estimate."""

    rows: int | None
    columns: int
    decoded_bytes: int


def check(p: Path, shape: Shape, limits: Limits) -> None:
    """Refuse a table over the column, row or decoded-size cap, with the limit it passes."""
    if shape.columns > limits.max_columns:
        raise InputError(f"Too many columns: {p.name} has {shape.columns:,} columns, the limit "
                         f"is {limits.max_columns:,}.")
    if shape.rows is None or shape.rows > limits.max_rows:
        count = f"more than {limits.max_rows:,}" if shape.rows is None else f"{shape.rows:,}"
        raise InputError(f"Too many rows: {p.name} has {count} rows, the limit is "
                         f"{limits.max_rows:,}.")
    if shape.decoded_bytes > limits.max_decoded_mb * 2**20:
        raise InputError(
            f"Too large: {p.name} would take about {shape.decoded_bytes / 2**20:,.0f} MiB in "
            f"memory ({shape.rows:,} rows x {shape.columns:,} columns), the limit is "
            f"{limits.max_decoded_mb:,} MiB (MODELDEV_MAX_DECODED_MB).")


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parquet_shape(p: Path, limits: Limits) -> Shape:
    """Rows, physical columns and decoded size from the Parquet footer; nested columns and a
    footer longer than the column cap could need are refused before it is parsed."""
    import pyarrow.parquet as pq

    cap = max(MIN_METADATA_BYTES, limits.max_columns * FOOTER_BYTES_PER_COLUMN)
    with p.open("rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - 8))
        tail = fh.read(8)
    if size < 12 or tail[4:] != b"PAR1":
        raise InputError(f"Could not read {p}: it is not a Parquet file (no footer).")
    footer = struct.unpack("<I", tail[:4])[0]
    if footer > cap:
        raise InputError(f"Too many columns: the metadata of {p.name} takes "
                         f"{footer / 2**20:,.1f} MiB, more than {limits.max_columns:,} columns "
                         f"need ({cap / 2**20:,.0f} MiB).")
    try:
        meta = pq.ParquetFile(p).metadata
    except Exception as exc:
        raise InputError(f"Could not read {p}: {_reason(exc)}.") from None
    schema = meta.schema
    for i in range(len(schema)):
        column = schema.column(i)
        if column.max_repetition_level > 0 or "." in column.path:
            raise InputError(f"Could not use {p.name}: column {column.path} holds nested values "
                             "(lists, structs or maps); only flat tables can be read.")
    groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
    rows = max(meta.num_rows, sum(g.num_rows for g in groups))
    decoded = 0
    for i in range(len(schema)):
        declared = 0
        if schema.column(i).physical_type in _TEXT_TYPES:
            declared = sum(max(0, g.column(i).total_uncompressed_size) for g in groups)
        decoded += rows * VALUE_BYTES + declared
    return Shape(rows, len(schema), decoded)


def csv_header(p: Path, sep: str, limits: Limits) -> list[str]:
    """The column names of the CSV's first record, read from a first chunk whose length the
    column cap bounds (a header longer than that is refused, never read whole)."""
    cap = max(MIN_METADATA_BYTES, limits.max_columns * HEADER_BYTES_PER_COLUMN)
    with p.open("rb") as fh:
        head = fh.read(cap + 1)
    lines = head.decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    too_long = InputError(f"Too many columns: the header line of {p.name} is longer than "
                          f"{cap / 2**20:,.0f} MiB, more than {limits.max_columns:,} columns "
                          "need.")
    if len(head) > cap and len(lines) <= 1:
        raise too_long
    reader = csv.reader(iter(lines), delimiter=sep)
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"Could not read {p}: {exc}.") from None
    if len(head) > cap and reader.line_num >= len(lines):
        raise too_long
    return [h.strip() for h in header]


def csv_shape(p: Path, sep: str, columns: int, limits: Limits) -> Shape:
    """Rows (bounded count), columns and decoded size of a CSV: each value's own bytes plus
    the text, which is at most the file's size."""
    rows = csv_rows(p, limits.max_rows, sep)
    decoded = (rows or 0) * columns * VALUE_BYTES + p.stat().st_size
    return Shape(rows, columns, decoded)


def csv_rows(p: Path, cap: int, sep: str) -> int | None:
    """A CSV's data rows, or None past `cap`: a bounded scan that stops there, no table built.

    Newlines are counted in 1 MiB chunks; only where that count passes the cap and the file
    quotes fields (a quoted field may hold newlines) are records counted by the csv module.
    """
    lines, quoted, last = 0, False, b"\n"
    with p.open("rb") as fh:
        while lines <= cap + 1 and (chunk := fh.read(_SCAN_CHUNK)):
            lines += chunk.count(b"\n")
            quoted = quoted or b'"' in chunk
            last = chunk[-1:]
    rows = lines - 1 + (last != b"\n")  # the header is no row; a last line may lack its newline
    if rows > cap and quoted:
        with p.open(newline="", encoding="utf-8", errors="replace") as text:
            records = csv.reader(text, delimiter=sep)
            rows = sum(1 for _ in itertools.islice(records, cap + 2)) - 1
    return None if rows > cap else rows
