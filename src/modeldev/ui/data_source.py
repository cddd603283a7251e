"""The data choice of the Data page: which source, loading it (cached), and the dataset report."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from modeldev import uploads
from modeldev.config import Limits, Settings
from modeldev.data.loading import Source, load_context, load_demo, load_table
from modeldev.data.paths import confine
from modeldev.data.validation import Prepared, prepare
from modeldev.errors import InputError
from modeldev.evaluation.metrics import default_primary_metric, task_metric_names
from modeldev.evaluation.thresholds import AUTO_MINORITY
from modeldev.jobs import store as jobs
from modeldev.ui import state as S

DEFAULT_DEMO = "breast_cancer"
PREVIEW_ROWS = 100
_TARGET_GUESSES = ("target", "label", "y", "class", "outcome")
UPLOAD_TYPES = list(uploads.TYPES)


@dataclass(frozen=True)
class SourceSpec:
    """Where the table comes from: kind (demo, upload, path, context) and its value."""

    kind: str
    value: str

    def job_args(self) -> dict[str, str]:
        """The train JobSpec's source argument."""
        if self.kind == "demo":
            return {"demo": self.value}
        if self.kind == "context":
            return {"context": self.value}
        return {"data": self.value}

    def stamp(self) -> float:
        """The file's modification time (0 for demos): a changed file is loaded again."""
        if self.kind == "demo":
            return 0.0
        try:
            return Path(self.value).expanduser().stat().st_mtime
        except OSError:
            return -1.0


def source_kinds(settings: Settings) -> tuple[str, ...]:
    """The data sources this app offers ("File on the server" only where it is allowed)."""
    return tuple(k for k in S.SOURCE_KINDS if k != "path" or settings.access.server_files)


def current_spec(settings: Settings) -> SourceSpec | None:
    """The source chosen on the Data page (the breast_cancer demo until something else is)."""
    kind = st.session_state.get(S.SRC_KIND, "demo")
    if kind not in source_kinds(settings) or kind == "demo":
        return SourceSpec("demo", st.session_state.get(S.SRC_DEMO, DEFAULT_DEMO))
    if kind == "upload":
        saved = st.session_state.get(S.UPLOADED_PATH)
        return SourceSpec("upload", saved) if saved else None
    if kind == "context":
        typed = st.session_state.get(S.SRC_CONTEXT) if settings.access.server_files else None
        return SourceSpec("context", (typed or str(settings.context_path)).strip())
    path = (st.session_state.get(S.SRC_PATH) or "").strip()
    return SourceSpec("path", path) if path else None


def save_upload(uploaded: Any, settings: Settings, key: str = S.UPLOAD_SAVED) -> str:
    """Keep an uploaded file in the workspace (`modeldev.uploads`: a folder per content, under
    a quota), hashed once per upload: a rerun with the same file reuses the saved path (kept
    in session state under `key`)."""
    seen = st.session_state.get(key) or {}
    if seen.get("file_id") == uploaded.file_id and Path(seen.get("path", "")).is_file():
        return str(seen["path"])
    data = uploaded.getvalue()
    path = uploads.save_upload(data, uploaded.name, settings, uploads.digest_of(data),
                               jobs.inputs_in_use(settings))
    st.session_state[key] = {"file_id": uploaded.file_id, "path": str(path)}
    return str(path)


@st.cache_resource(show_spinner="Loading the data ...", max_entries=4)
def _load(kind: str, value: str, stamp: float, limits: tuple = (),
          roots: tuple[str, ...] = (), context_path: str = "") -> Source:
    caps = Limits(*limits) if limits else None
    if kind == "demo":
        return load_demo(value)
    if kind == "context":
        own = Path(value).expanduser().resolve() == Path(context_path)
        path = Path(context_path) if own else confine(value, roots)
        return load_context(path, caps, roots=roots)
    return load_table(confine(value, roots) if kind == "path" else value, caps)


def load(spec: SourceSpec, settings: Settings | None = None) -> Source:
    """The table of `spec`, caps checked before reading, paths confined to the data roots
    (cached per file version; read-only)."""
    if settings is None:
        return _load(spec.kind, spec.value, spec.stamp())
    return _load(spec.kind, spec.value, spec.stamp(), astuple(settings.limits),
                 settings.access.data_roots, str(settings.context_path))


def default_target(source: Source) -> str:
    """The source's own target, a conventionally named column, else the last column."""
    columns = [str(c) for c in source.frame.columns]
    if source.target in columns:
        return str(source.target)
    lowered = {c.lower(): c for c in columns}
    return next((lowered[g] for g in _TARGET_GUESSES if g in lowered), columns[-1])


@st.cache_resource(show_spinner="Checking the data ...", max_entries=8)
def _prepare(kind: str, value: str, stamp: float, target: str, task: str,
             limits: tuple, roots: tuple[str, ...], context_path: str) -> Prepared:
    frame = _load(kind, value, stamp, limits, roots, context_path).frame
    return prepare(frame, target, task, Limits(*limits))


def prepared(spec: SourceSpec, target: str, task: str, settings: Settings) -> Prepared:
    """The validated table (raises the InputError that training would raise)."""
    return _prepare(spec.kind, spec.value, spec.stamp(), target, task, astuple(settings.limits),
                    settings.access.data_roots, str(settings.context_path))


def current_choice(settings: Settings) -> dict[str, Any]:
    """Source, target, task and validation of the current setup; 'error' holds a refusal."""
    out: dict[str, Any] = {"spec": current_spec(settings), "source": None, "prepared": None,
                           "error": None}
    if out["spec"] is None:
        out["error"] = "Choose a file on the Data page first."
        return out
    try:
        out["source"] = load(out["spec"], settings)
        target = st.session_state.get(S.TARGET) or default_target(out["source"])
        if target not in map(str, out["source"].frame.columns):
            target = default_target(out["source"])
        out["target"] = target
        out["prepared"] = prepared(out["spec"], target, st.session_state.get(S.TASK, "auto"),
                                   settings)
    except InputError as exc:
        out["error"] = str(exc)
    return out


def metric_options(task: str) -> list[str]:
    """Primary metric choices for a task, the default first."""
    names = [m for m in task_metric_names(task) if m != "gpu_used"]
    default = default_primary_metric(task)
    return [default, *[m for m in names if m != default]]


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first rows with text-like columns as strings and names as text: shown, never parsed."""
    head = frame.head(rows).copy()
    head.columns = [str(c) for c in head.columns]
    for i in range(head.shape[1]):
        column = head.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            head.isetitem(i, column.astype(object).map(lambda v: "" if v is None else str(v)))
    return head


def column_report(frame: pd.DataFrame, target: str, data: Prepared | None) -> pd.DataFrame:
    """One row per column: type, missing values, and how it is used (or why it is dropped)."""
    plan = data.plan if data else None
    rows = []
    for col in frame.columns:
        role = "target" if str(col) == target else "?"
        if plan is not None and role != "target":
            role = ("dropped: " + plan.dropped[col] if col in plan.dropped else
                    "numeric" if col in plan.numeric else "categorical")
        rows.append({"column": str(col), "type": str(frame[col].dtype),
                     "missing": int(frame[col].isna().sum()), "use": role})
    return pd.DataFrame(rows)


def class_balance(data: Prepared) -> pd.DataFrame | None:
    """Rows and share per class (None for regression)."""
    if data.task == "regression":
        return None
    counts = data.y.value_counts()
    return pd.DataFrame({"class": [str(c) for c in counts.index], "rows": counts.to_numpy(),
                         "share": (counts / counts.sum()).round(4).to_numpy()})


def imbalance_advice(data: Prepared) -> str | None:
    """For a binary table whose minority class is under 30 %: which primary metric to choose
    and why (None otherwise)."""
    if data.task != "binary":
        return None
    share = float(data.y.value_counts(normalize=True).min())
    if share >= AUTO_MINORITY:
        return None
    return (f"The minority class is {share:.0%} of the rows. Choose average_precision (it "
            "does not depend on a threshold) or f1_score, scored at a decision threshold tuned "
            "out of fold for each model (the default here); accuracy would reward predicting "
            "the majority class, and at a threshold of 0.5 most models find few of the "
            "minority.")
