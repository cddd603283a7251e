"""Parsing a CSV or Parquet file into a table: in this process, or in `data.isolated`'s child."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modeldev.errors import InputError


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parse_file(p: Path, kind: str, sep: str) -> pd.DataFrame:
    """The table in `p`: `kind` "parquet", or "csv" separated by `sep` (pyarrow's parser, the C
    parser where pyarrow is too strict); an unreadable file is one sentence, memory runs out
    as MemoryError (the isolated child reports that apart)."""
    try:
        if kind == "parquet":
            return pd.read_parquet(p)
        try:
            return pd.read_csv(p, sep=sep, engine="pyarrow")
        except MemoryError:
            raise
        except Exception:  # pyarrow is strict on ragged or oddly quoted files
            return pd.read_csv(p, sep=sep, low_memory=False)
    except MemoryError:
        raise
    except Exception as exc:
        raise InputError(f"Could not read {p}: {_reason(exc)}.") from None
