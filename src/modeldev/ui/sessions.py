"""What the result pages read: Phase 1 sessions and tuning parents from MLflow, their files, trials.

Everything is read from MLflow and the run folders it names (fetched from MLflow into the
workspace's cache when they are on another machine), so any past run can be shown again after a
restart, and on any machine that shares the tracking server. Queries are cached until the
store changes (lists: see common.store_stamp) or for good (a finished run never changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from modeldev.errors import ModeldevError
from modeldev.tracking import folders
from modeldev.tracking import tags as T
from modeldev.tuning.outputs import load_trials
from modeldev.ui import common
from modeldev.ui import state as S


def _key() -> tuple[str, str]:
    s = common.settings()
    return s.tracking_uri, str(s.workspace)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_runs(uri: str, ws: str, experiment_id: str, kind: str,
                 stamp: Any) -> list[dict[str, Any]]:
    runs = common.cached_tracker(uri, ws).runs_of_kind([experiment_id], kind)
    return [{"run_id": r.run_id, "status": r.status, "start": r.start_time,
             "end": r.end_time, "tags": dict(r.tags), "metrics": dict(r.metrics)} for r in runs]


def _runs(uri: str, ws: str, experiment_id: str, kind: str) -> list[dict[str, Any]]:
    """The runs of `kind`, read from MLflow again only once the store has changed: a new
    session (a new browser tab) reuses the list the last one read."""
    return _cached_runs(uri, ws, experiment_id, kind, common.store_stamp(uri))


def phase1_sessions(experiment_id: str | None) -> list[dict[str, Any]]:
    """Phase 1 parent runs of the experiment, newest first."""
    return _runs(*_key(), experiment_id, T.KIND_PHASE1) if experiment_id else []


def tuning_parents(experiment_id: str | None) -> list[dict[str, Any]]:
    """Tuning parent runs of the experiment, newest first."""
    return _runs(*_key(), experiment_id, T.KIND_TUNING) if experiment_id else []


def clear() -> None:
    """Forget the cached run lists (a job just finished)."""
    _cached_runs.clear()
    common.forget_experiments()


def session_label(run: dict[str, Any]) -> str:
    """'2026-11-26 18:38:22 · breast_cancer · best xgboost_baseline · FINISHED · 8d24658b'."""
    tags = run["tags"]
    best = f"best {tags[T.BEST_MODEL]}" if tags.get(T.BEST_MODEL) else "no best"
    name = tags.get(T.DATASET) or tags.get(T.FRAMEWORK) or ""
    return f"{common.when(run['start'])} · {name} · {best} · {run['status']} · {run['run_id'][:8]}"


def tuning_label(run: dict[str, Any]) -> str:
    """'2026-11-26 18:38:24 · xgboost_baseline · 4 combinations · FINISHED · 79c67b6b'."""
    tags = run["tags"]
    return (f"{common.when(run['start'])} · {tags.get(T.FRAMEWORK, '?')} · "
            f"{tags.get(T.N_COMBINATIONS, '?')} combinations · {run['status']} · "
            f"{run['run_id'][:8]}")


def pick(runs: list[dict[str, Any]], label: str, key: str, state_key: str,
         fmt: Any = session_label) -> dict[str, Any] | None:
    """A selectbox over runs, showing `state_key`'s run (shared across pages), else the newest
    finished one; a choice made here is written back to `state_key`."""
    if not runs:
        return None
    by_id = {r["run_id"]: r for r in runs}
    wanted = st.session_state.get(state_key)
    if wanted not in by_id:
        done = [r["run_id"] for r in runs if r["status"] == "FINISHED"]
        wanted = done[0] if done else runs[0]["run_id"]
    st.session_state[key] = wanted
    st.session_state[state_key] = wanted
    chosen = st.selectbox(label, list(by_id), key=key, format_func=lambda i: fmt(by_id[i]),
                          on_change=_copy, args=(key, state_key))
    return by_id[chosen]


def _copy(key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[key]


@st.cache_data(show_spinner=False, max_entries=32)
def _files(folder: str, stamp: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("all_models_metrics", "best_model_info", "manifest", "tuned_model_info",
                 "tuning_summary_report", "tuning_spec"):
        path = Path(folder) / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


@st.cache_data(show_spinner="Fetching the session's files from MLflow ...", max_entries=64)
def _fetched(uri: str, ws: str, run_id: str, status: str, end: int | None) -> str:
    found = folders.run_folder(common.cached_tracker(uri, ws), run_id)
    return "" if found is None else str(found)


def run_folder(run: dict[str, Any]) -> str:
    """The folder of a run's files: its own when it is on this machine, else its logged
    artifacts fetched from MLflow into the workspace's cache ("" when there are none yet)."""
    here = folders.local_folder(run["tags"])
    if here is not None:
        return str(here)
    if run["status"] not in folders.ENDED:
        return ""
    found = _fetched(*_key(), run["run_id"], run["status"], run["end"])
    if found and not Path(found).is_dir():  # the cache was cleared since: fetch it again
        _fetched.clear()
        found = _fetched(*_key(), run["run_id"], run["status"], run["end"])
    return found


def run_files(run: dict[str, Any]) -> dict[str, Any]:
    """The JSON files of a run's folder ({} when it has none here or in MLflow)."""
    try:
        folder = run_folder(run)
    except ModeldevError as exc:
        common.error(exc)
        return {}
    path = Path(folder)
    if not folder or not path.is_dir():
        return {}
    return _files(folder, path.stat().st_mtime)


@st.cache_data(show_spinner="Reading the trials from MLflow ...", max_entries=16)
def _trials(uri: str, ws: str, parent_id: str, stamp: Any) -> list[dict[str, Any]]:
    return load_trials(common.cached_tracker(uri, ws), parent_id)


def trials(parent_id: str, stamp: Any) -> list[dict[str, Any]]:
    """Every trial of a tuning parent; `stamp` (end time, or progress) decides when to re-read."""
    return _trials(*_key(), parent_id, stamp)


@st.cache_data(show_spinner=False, max_entries=64)
def _run_tags(uri: str, ws: str, run_id: str) -> dict[str, str]:
    return dict(common.cached_tracker(uri, ws).get_run(run_id).tags)


def run_tags(run_id: str) -> dict[str, str]:
    """The tags of a run as set when it started (cached: read them for fixed facts only)."""
    return _run_tags(*_key(), run_id)


def current_session(experiment_id: str | None, key: str = S.SESSION_PICK,
                    label: str = "Phase 1 session") -> dict[str, Any] | None:
    """The Phase 1 session picked on this page (shared across pages through PHASE1_RUN)."""
    return pick(phase1_sessions(experiment_id), label, key, S.PHASE1_RUN)


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def runs_table(phase1: list[dict[str, Any]], tuning: list[dict[str, Any]]) -> list[dict]:
    """One row per Phase 1 session and tuning run: status, when, dataset, best, improvement."""
    datasets = {r["run_id"]: r["tags"].get(T.DATASET, "") for r in phase1}
    rows = []
    for r in phase1:
        tags = r["tags"]
        rows.append({"kind": "Phase 1", "started": common.when(r["start"]), "status": r["status"],
                     "dataset": tags.get(T.DATASET, ""), "best": tags.get(T.BEST_MODEL, ""),
                     "metric": tags.get(T.PRIMARY_METRIC, ""),
                     "value": _number(tags.get(T.BEST_METRIC_VALUE)), "improvement %": None,
                     "run_id": r["run_id"], "_start": r["start"] or 0})
    for r in tuning:
        tags, metric = r["tags"], r["tags"].get(T.PRIMARY_METRIC, "")
        rows.append({"kind": "Tuning", "started": common.when(r["start"]), "status": r["status"],
                     "dataset": datasets.get(tags.get(T.PHASE1_RUN_ID, ""), ""),
                     "best": tags.get(T.FRAMEWORK, ""), "metric": metric,
                     "value": r["metrics"].get(f"best_{metric}"),
                     "improvement %": r["metrics"].get("improvement_pct"),
                     "run_id": r["run_id"], "_start": r["start"] or 0})
    rows.sort(key=lambda row: row.pop("_start"), reverse=True)
    return rows
