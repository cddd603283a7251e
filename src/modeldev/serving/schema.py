"""New rows checked against a model's signature before anything is scored.

The columns: every required column of the signature must be there (the missing ones are
named in one sentence), columns the model does not take are ignored and listed, optional ones
that are absent are added empty. The values: each column is coerced to the type the model
was trained on (text that reads as numbers, numbers where text was, 0/1 or true/false for
flags, dates) or refused with the first row that does not fit. Empty cells stay missing: the
model's own preprocessing imputes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modeldev.errors import InputError
from modeldev.tracking.records import ColumnSpec

NUMBERS = ("double", "float", "long", "integer")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


@dataclass(frozen=True)
class ColumnCheck:
    """How a table's columns meet a model's signature."""

    used: list[str]  # the signature's columns the table has, in the signature's order
    ignored: list[str]  # the table's columns the model does not take
    absent: list[str]  # optional columns the table lacks (scored as missing)


NAMED = 50  # columns named in one sentence at most; the rest counted


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:NAMED])
    return shown + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def _needed(spec: ColumnSpec, used: set[str] | None) -> bool:
    """Whether the model reads the column (its signature lists every raw column, the ones
    its preprocessing drops included; `used`: the ones it reads, None when unknown)."""
    return used is None or spec.name in used


def check_columns(columns: list[str], inputs: list[ColumnSpec], where: str,
                  used: set[str] | None = None) -> ColumnCheck:
    """The table's columns against the signature; InputError naming every required column
    the model reads that the table lacks."""
    if not inputs:
        raise InputError(f"The model has no input signature, so {where} cannot be checked "
                         "against it; modeldev scores only models that carry one.")
    have = set(columns)
    missing = [c.name for c in inputs
               if c.required and _needed(c, used) and c.name not in have]
    if missing:
        raise InputError(f"{where} lacks {len(missing)} column(s) the model needs: "
                         f"{_names(missing)}.")
    wanted = {c.name for c in inputs}
    return ColumnCheck(used=[c.name for c in inputs if c.name in have],
                       ignored=[c for c in columns if c not in wanted],
                       absent=[c.name for c in inputs if c.name not in have])


def coerce(frame: pd.DataFrame, inputs: list[ColumnSpec], where: str, first_row: int = 1,
           used: set[str] | None = None) -> tuple[pd.DataFrame, set[str]]:
    """The signature's columns of `frame` (a chunk whose first row is row `first_row` of the
    file), each the model reads as its signature's type, and the names of the columns whose
    values were converted; InputError naming the column, the row and the value that does not
    fit. A column the model does not read is passed as it is (empty where absent)."""
    out: dict[str, pd.Series] = {}
    converted: set[str] = set()
    for spec in inputs:
        if spec.name not in frame.columns:
            out[spec.name] = pd.Series(np.nan, index=frame.index, dtype=float)
            continue
        if not _needed(spec, used):
            out[spec.name] = frame[spec.name]
            continue
        series, changed = _as_type(frame[spec.name], spec.type)
        bad = series.isna() & ~_blank(frame[spec.name])
        if bad.any():
            raise _refusal(frame[spec.name], bad, spec, where, first_row)
        out[spec.name] = series
        if changed:
            converted.add(spec.name)
    return pd.DataFrame(out, index=frame.index), converted


def _blank(s: pd.Series) -> pd.Series:
    """Missing cells: NaN/None, or text that is empty or only spaces."""
    blank = s.isna()
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        blank |= s.astype(str).str.strip().eq("")
    return blank


def _as_type(s: pd.Series, kind: str) -> tuple[pd.Series, bool]:
    """`s` converted for `kind` (a value that cannot be becomes missing), and whether it
    changed type."""
    converter: Callable[[pd.Series], tuple[pd.Series, bool]] = {
        "boolean": _as_flags, "string": _as_text, "datetime": _as_dates,
    }.get(kind, _as_numbers if kind in NUMBERS else _unchanged)
    return converter(s)


def _unchanged(s: pd.Series) -> tuple[pd.Series, bool]:
    return s, False


def _as_numbers(s: pd.Series) -> tuple[pd.Series, bool]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float), True
    if pd.api.types.is_numeric_dtype(s):
        return s, False
    text = s.astype(object).where(~_blank(s), None)
    return pd.to_numeric(text, errors="coerce"), True


def _as_text(s: pd.Series) -> tuple[pd.Series, bool]:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return s.astype(object).where(s.notna(), None), False
    return s.map(_number_text, na_action="ignore").astype(object), True


def _number_text(value: object) -> str:
    """A number as the text a CSV column of codes held: 7.0 read back as '7'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_flags(s: pd.Series) -> tuple[pd.Series, bool]:
    """Flags as 1.0/0.0 (missing: NaN), which a model fitted on a bool column reads as it
    read those."""
    if pd.api.types.is_bool_dtype(s):
        return s, False
    lowered = s.astype(object).map(lambda v: str(v).strip().lower(), na_action="ignore")
    flags = lowered.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan,
                        na_action="ignore")
    return flags.astype(float), True


def _as_dates(s: pd.Series) -> tuple[pd.Series, bool]:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s, False
    return pd.to_datetime(s, errors="coerce"), True


def _refusal(raw: pd.Series, bad: pd.Series, spec: ColumnSpec, where: str,
             first_row: int) -> InputError:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    what = {"boolean": "flags (true/false or 1/0)", "datetime": "dates"}.get(
        spec.type, "numbers" if spec.type in NUMBERS else f"{spec.type} values")
    return InputError(f"Column {spec.name!r} of {where} should hold {what} (the model was "
                      f"trained on {spec.type}), but row {first_row + position:,} holds "
                      f"{raw.iloc[position]!r}.")
