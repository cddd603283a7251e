"""Tuning grids: strict JSON parsing, validation against a typed schema, counting and expansion.

A grid maps parameter names to lists of candidate values. It is parsed as strict JSON (no NaN,
no Infinity, no duplicate keys) and never evaluated as code. Validation coerces each value to
its schema kind: ints are accepted for float parameters (5 -> 5.0), floats with an integral
value for int parameters (5.0 -> 5, 5.5 is refused), and bools are never numbers.

Expansion follows sklearn's `ParameterGrid`: parameter names sorted, the last name varying
fastest, so trial order does not depend on the key order of the file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeldev.errors import InputError

if TYPE_CHECKING:  # base.py pulls in pandas and sklearn; grids only need the spec's fields
    from modeldev.frameworks.base import ParamSpec

MAX_GRID_BYTES = 1_000_000  # a grid file is a few hundred bytes; refuse anything absurd
HASH_LENGTH = 16
_SHOWN_FACTORS = 5
_ARTICLE = {"int": "an int", "float": "a float", "str": "a string", "bool": "a boolean"}


# ---------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise InputError(f"The grid contains {name}, which is not a valid value; use finite numbers.")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"The grid contains the number {text}, which is too large to represent.")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InputError(f"The grid lists the key '{key}' more than once; keep one of them.")
        result[key] = value
    return result


def _kind_of(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if type(value) in names:
        return names[type(value)]
    return "a number" if isinstance(value, numbers.Real) else f"a {type(value).__name__}"


def parse_grid_text(text: str) -> dict[str, list]:
    """Parse grid JSON strictly: no NaN/Infinity, no duplicate keys, an object at the top."""
    if not text.strip():
        raise InputError('The grid is empty; write a JSON object such as {"max_depth": [5, 10]}.')
    try:
        data = json.loads(text.removeprefix("\ufeff"), parse_constant=_reject_constant,
                          parse_float=_parse_float, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"The grid is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}.") from None
    except RecursionError:
        raise InputError("The grid is nested too deeply to be a parameter grid.") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise InputError(f"The grid contains a value that cannot be read: {exc}.") from None
    if not isinstance(data, dict):
        raise InputError("A grid must be a JSON object mapping parameter names to lists, "
                         f'such as {{"max_depth": [5, 10]}}; got {_kind_of(data)}.')
    return data


def load_grid_file(path: str | Path) -> dict[str, list]:
    """Read and parse a grid file; an unreadable or oversized file is an InputError."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_GRID_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"Cannot read the grid file {path}: {reason}.") from None
    if len(raw) > MAX_GRID_BYTES:
        raise InputError(f"The grid file {path} is larger than {MAX_GRID_BYTES:,} bytes; "
                         "a grid lists a few values per parameter.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"The grid file {path} is not UTF-8 text (byte {exc.start}).") from None
    return parse_grid_text(text)


# ---------------------------------------------------------------- validation


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _example(spec: ParamSpec) -> Any:
    if spec.choices:
        return spec.choices[0]
    defaults = {"int": 1, "float": 0.1, "str": "value", "bool": True}
    if spec.low is not None:
        return int(spec.low) if spec.kind == "int" else spec.low
    return defaults.get(spec.kind, 1)


def _coerce_number(value: Any, kind: str) -> Any:
    """The value as `kind` ("int" or "float"), or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        if kind == "int":
            return int(value)
        try:
            return float(value)
        except OverflowError:
            return math.inf  # refused by the range check below
    number = float(value)
    if not math.isfinite(number):
        return None
    if kind == "float":
        return number
    return int(number) if number.is_integer() else None


_MISSING = object()


def _number_problem(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean, not a number"
    if isinstance(value, numbers.Real):
        return "not finite" if not math.isfinite(float(value)) else "not a whole number"
    return f"{_kind_of(value)}, not a number"


def _coerce(value: Any, spec: ParamSpec) -> tuple[Any, str]:
    """(coerced value, "") when `value` fits `spec`, else (_MISSING, why not)."""
    if value is None:
        return (None, "") if spec.nullable else (_MISSING, "null is not allowed")
    if spec.kind in ("int", "float"):
        coerced = _coerce_number(value, spec.kind)
        if coerced is None:
            return _MISSING, _number_problem(value)
        if (spec.low is not None and coerced < spec.low) or (
                spec.high is not None and coerced > spec.high):
            return _MISSING, "out of range"
    elif spec.kind in ("bool", "str"):
        wanted = bool if spec.kind == "bool" else str
        if not isinstance(value, wanted):
            return _MISSING, f"{_kind_of(value)}, not {_ARTICLE[spec.kind]}"
        coerced = value
    else:
        raise ValueError(f"unknown ParamSpec kind {spec.kind!r}")
    if spec.choices is not None and coerced not in spec.choices:
        return _MISSING, "not one of the choices"
    return coerced, ""


def _check_names(grid: dict, schema: dict[str, ParamSpec], framework: str) -> None:
    if not isinstance(grid, dict):
        raise InputError(f"The grid for {framework} must be an object mapping parameter names "
                         f"to lists; got {_kind_of(grid)}.")
    if not schema:
        raise InputError(f"{framework} has no tunable parameters; there is nothing to tune.")
    if not grid:
        valid = ", ".join(schema)
        raise InputError(f"The grid for {framework} is empty, so there is nothing to tune; "
                         f"give lists for some of: {valid}.")
    unknown = [str(name) for name in grid if name not in schema]
    if unknown:
        names = ", ".join(f"'{n}'" for n in unknown)
        noun = "parameter" if len(unknown) == 1 else "parameters"
        raise InputError(f"Unknown {noun} {names} for {framework}; valid parameters are: "
                         f"{', '.join(schema)}.")


def _check_shape(name: str, values: Any, spec: ParamSpec, framework: str) -> list:
    example = f'"{name}": [{_show(_example(spec))}]'
    if not isinstance(values, list | tuple):
        shown = "an object" if isinstance(values, dict) else _show(values)
        if not isinstance(values, dict):
            example = f'"{name}": [{shown}]'
        raise InputError(f"Parameter '{name}' of {framework} must be a list of values, not "
                         f"{shown}; write a single value as a list, e.g. {example}.")
    if not values:
        raise InputError(f"Parameter '{name}' of {framework} has an empty list; give at least "
                         f"one value, e.g. {example}, or remove the parameter.")
    return list(values)


def _validate_values(name: str, values: list, spec: ParamSpec, framework: str) -> list:
    coerced: list = []
    seen: set = set()
    repeated: list = []
    for value in values:
        fixed, why = _coerce(value, spec)
        if fixed is _MISSING:
            raise InputError(f"Parameter '{name}' of {framework} does not accept "
                             f"{_show(value)} ({why}); accepted values: {spec.describe()}.")
        if fixed in seen and fixed not in repeated:
            repeated.append(fixed)
        seen.add(fixed)
        coerced.append(fixed)
    if repeated:
        shown = ", ".join(_show(v) for v in repeated)
        raise InputError(f"Parameter '{name}' of {framework} lists {shown} more than once "
                         f"(after conversion to {spec.kind}); keep each value once.")
    return coerced


def _check_size(grid: dict[str, list], max_combinations: int) -> None:
    total = count_combinations(grid)
    if total <= max_combinations:
        return
    ranked = sorted(grid.items(), key=lambda item: len(item[1]), reverse=True)[:_SHOWN_FACTORS]
    factors = ", ".join(f"{name} ({len(values)})" for name, values in ranked)
    raise InputError(f"{total:,} combinations exceed the cap of {max_combinations:,}; the "
                     f"largest factors are {factors}; remove values from them or raise "
                     "MODELDEV_MAX_COMBINATIONS.")


def validate_grid(grid: dict, schema: dict[str, ParamSpec], framework: str,
                  max_combinations: int) -> dict[str, list]:
    """Check a grid against `schema` and the cap; return it with values coerced to their kinds."""
    _check_names(grid, schema, framework)
    normalised: dict[str, list] = {}
    for name, values in grid.items():
        spec = schema[name]
        listed = _check_shape(name, values, spec, framework)
        normalised[name] = _validate_values(name, listed, spec, framework)
    _check_size(normalised, max_combinations)
    return normalised


# ---------------------------------------------------------------- counting and expansion


def count_combinations(grid: dict[str, list]) -> int:
    """Number of combinations: the product of the list lengths (1 for an empty grid)."""
    return math.prod(len(values) for values in grid.values())


def expand_grid(grid: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination, in sklearn ParameterGrid order (names sorted, last one fastest)."""
    names = sorted(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(grid[name] for name in names))]


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return int(number) if number.is_integer() else number
    raise InputError(f"Cannot hash the parameter value {value!r}; use numbers, strings, "
                     "booleans or null.")


def combination_hash(params: dict[str, Any]) -> str:
    """Stable id of one combination: independent of key order, process and 5 vs 5.0."""
    canonical = {str(name): _canonical(value) for name, value in params.items()}
    try:
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise InputError("Cannot hash a combination with NaN or Infinity values.") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def grid_to_text(grid: dict[str, list]) -> str:
    """Pretty JSON for editors: one parameter per line, its values inline, in the grid's order."""
    if not grid:
        return "{}\n"
    try:
        lines = [f"  {json.dumps(str(name))}: {json.dumps(list(values), allow_nan=False)}"
                 for name, values in grid.items()]
    except (TypeError, ValueError) as exc:
        raise InputError(f"The grid cannot be written as JSON: {exc}.") from None
    return "{\n" + ",\n".join(lines) + "\n}\n"
