"""The pipeline context (`pipeline_context.json`): read it, and write epoch 5's keys safely.

Other pipeline epochs own their own top-level keys; every write here happens under a file lock,
re-reads the file and replaces it atomically, so concurrent writers never lose each other's keys.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from modeldev.artifacts import to_jsonable, write_json
from modeldev.errors import InputError

PHASE1_KEY = "epoch_005_phase1"
COMPLETE_KEY = "epoch_005_complete"
OUTPUTS_KEY = "epoch_005_outputs"
LOCK_TIMEOUT_S = 60.0


def read_context(path: Path) -> dict:
    """The context as a dict: {} when absent, InputError when it is not a JSON object."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Could not read pipeline context {path}: {exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Pipeline context {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"Pipeline context {path} must hold a JSON object, not a {type(data).__name__}."
        )
    return data


def deep_merge(base: Mapping, updates: Mapping) -> dict:
    """A copy of `base` with `updates` merged in: dicts merge recursively, other values replace."""
    merged = dict(base)
    for key, value in updates.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def update_context(path: Path, updates: dict, *, replace: bool = False) -> dict:
    """Merge `updates` into the context under a file lock, write it atomically, return the result.

    Top-level keys absent from `updates` are never touched. The given keys are deep-merged into
    their current values, or set wholesale with `replace=True` (what a phase writing its full
    result wants, so entries of an earlier run do not linger).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
        current = read_context(path)
        clean = to_jsonable(dict(updates))
        merged = {**current, **clean} if replace else deep_merge(current, clean)
        write_json(path, merged)
    return merged


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _first(mapping: Mapping, *keys: str) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


def phase1_update(best: dict, session: dict) -> dict:
    """The context update Phase 1 writes, from the CLI's `--json` result and its `best_model`.

    `best` has name, run_id, primary_metric, value (best_model_info.json's model_name and
    primary_metric_value are read too); `session` has tracking_uri, experiment_id,
    parent_run_id, artifacts_dir, task, and runs (name, run_id, status, metrics) or a ready
    `models` mapping.
    """
    models = {
        run["name"]: {
            "run_id": run.get("run_id"),
            "status": run.get("status"),
            "metrics": dict(run.get("metrics") or {}),
        }
        for run in session.get("runs") or []
    } or dict(session.get("models") or {})
    return {
        PHASE1_KEY: {
            "parent_run_id": _first(session, "parent_run_id") or _first(best, "parent_run_id"),
            "experiment_id": _first(session, "experiment_id") or _first(best, "experiment_id"),
            "tracking_uri": session.get("tracking_uri"),
            "task": _first(session, "task") or _first(best, "task"),
            "best_model_name": _first(best, "name", "model_name"),
            "best_model_run_id": best.get("run_id"),
            "primary_metric": best.get("primary_metric"),
            "best_metric_value": _first(best, "value", "primary_metric_value"),
            "models": models,
            "artifacts_dir": _text_or_none(session.get("artifacts_dir")),
            "completed_at": _now(),
        }
    }


def phase2_update(
    *,
    best_model_name: str,
    best_model_params: dict[str, Any],
    tuning_parent_run_id: str,
    primary_metric: str,
    final_metric_value: float | None,
    baseline_metric_value: float | None,
    improvement_pct: float | None = None,
) -> dict:
    """The context update Phase 2 writes: `epoch_005_complete` and exactly the seven outputs.

    `improvement_pct` defaults to the direction-aware improvement of final over baseline.
    """
    if improvement_pct is None and final_metric_value is not None \
            and baseline_metric_value is not None:
        # metrics pulls in scikit-learn; context readers and lock holders should stay light
        from modeldev.evaluation.metrics import improvement_pct as _improvement_pct

        improvement_pct = _improvement_pct(
            final_metric_value, baseline_metric_value, primary_metric
        )
    return {
        COMPLETE_KEY: True,
        OUTPUTS_KEY: {
            "best_model_name": best_model_name,
            "best_model_params": dict(best_model_params),
            "tuning_parent_run_id": tuning_parent_run_id,
            "primary_metric": primary_metric,
            "final_metric_value": final_metric_value,
            "baseline_metric_value": baseline_metric_value,
            "improvement_pct": improvement_pct,
        },
    }
