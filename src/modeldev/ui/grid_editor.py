"""The editable tuning grid: one JSON list per parameter, checked inline, and the ETA estimate.

Values are parsed as strict JSON and checked with modeldev.tuning.grid (never evaluated); each
field shows its own error under it, and the whole grid is checked against the combination cap.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from modeldev.errors import InputError
from modeldev.frameworks.base import Framework
from modeldev.tuning.grid import count_combinations, parse_grid_text, validate_grid
from modeldev.ui import state as S
from modeldev.ui.common import error

WORKER_START_S = 5.0  # the worker server's imports, then each worker's framework (TF: ~4 s)
CHILD_RUN_S = 0.03  # one batched child run on SQLite (measured: benchmarks/results/tuning.md)


def parse_values(name: str, text: str, example: str) -> Any:
    """The JSON value typed for one parameter (strict: no NaN, no duplicate keys, no code)."""
    try:
        parsed = parse_grid_text('{"values": ' + text + "\n}")
    except InputError as exc:
        if "not valid JSON" not in str(exc) and "'values'" not in str(exc):
            raise  # NaN, Infinity or a huge number: the grid module's sentence says it best
        parsed = None
    if parsed is None or list(parsed) != ["values"]:
        raise InputError(f"The values of '{name}' are not valid JSON; write a list such as "
                         f"{example}.")
    return parsed["values"]


def _example(default: list | None) -> str:
    return json.dumps(list(default[:2])) if default else "[1, 2]"


def reset(adapter: Framework, task: str) -> None:
    """Put the framework's default grid back into the editor."""
    for name in adapter.param_schema(task):
        st.session_state.pop(S.grid_key(adapter.name, name), None)


def editor(adapter: Framework, task: str, max_combinations: int) -> dict[str, list] | None:
    """Draw one field per tunable parameter; return the checked grid, or None after errors."""
    schema, default = adapter.param_schema(task), adapter.default_grid(task)
    grid: dict[str, Any] = {}
    ok = True
    cols = st.columns(2)
    for i, (name, spec) in enumerate(schema.items()):
        key = S.grid_key(adapter.name, name)
        st.session_state.setdefault(key, json.dumps(default[name]) if name in default else "")
        with cols[i % 2]:
            text = st.text_input(name, key=key,
                                 help=f"a JSON list; accepted values: {spec.describe()}; "
                                      "empty: keep the baseline value")
            if not text.strip():
                continue
            try:
                values = parse_values(name, text, _example(default.get(name)))
                grid.update(validate_grid({name: values}, {name: spec}, adapter.name,
                                          max_combinations))
            except InputError as exc:
                error(exc)
                ok = False
    if not ok:
        return None
    try:
        return validate_grid(grid, schema, adapter.name, max_combinations)
    except InputError as exc:
        error(exc)
        return None


def estimate(grid: dict[str, list], adapter: Framework, task: str, fit_seconds: float | None,
             workers: int) -> dict[str, Any]:
    """Combinations, fits and a rough ETA from the Phase 1 fit time.

    Staged evaluation fits each group of combinations that differ only in the prefix parameter
    once, at its largest value (tuning.engine.make_plan), so fits = combinations / len(prefix
    values) and each costs the baseline fit time scaled by largest / baseline prefix value.
    Add the workers' start-up and one logged child run per combination (measured: ~23 ms on
    SQLite); everything else the grid changes (depth, learning rate) is ignored.
    """
    combos = count_combinations(grid)
    prefix = adapter.prefix_param if adapter.prefix_param in grid else None
    fits, scale = combos, 1.0
    if prefix:
        fits = max(1, combos // len(grid[prefix]))
        base = adapter.baseline_params(task).get(prefix) or 1
        scale = max(float(v) for v in grid[prefix]) / float(base)
    parallel = max(1, min(workers, fits))
    seconds = None if fit_seconds is None else (
        WORKER_START_S + fits * fit_seconds * scale / parallel + combos * CHILD_RUN_S)
    return {"combinations": combos, "fits": fits, "prefix": prefix, "seconds": seconds,
            "parallel": parallel}
