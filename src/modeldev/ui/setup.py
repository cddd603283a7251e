"""Framework checklist, GPU status and the train job's arguments, shared by Data and Training."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from modeldev.data.split import (
    DEFAULT_SEED,
    encode_target,
    resolve_folds,
    resolve_repeats,
    scheme_text,
)
from modeldev.data.validation import Prepared
from modeldev.errors import ModeldevError
from modeldev.frameworks.registry import ADAPTERS, frameworks_for
from modeldev.gpu import detect_gpu, resolve_device
from modeldev.ui import state as S
from modeldev.ui.data_source import metric_options


@st.cache_resource(show_spinner="Checking which frameworks are installed ...")
def availability() -> dict[str, tuple[bool, str]]:
    """Whether each registered framework imports here, with the reason when not (once)."""
    return {a.name: a.is_available() for a in ADAPTERS}


@st.cache_resource(show_spinner="Looking for GPUs ...")
def gpu_status() -> dict[str, Any]:
    """detect_gpu(), once per server process."""
    return detect_gpu()


def framework_rows(task: str, device: str) -> list[dict[str, Any]]:
    """Per framework of the task: availability and the device a fit would use, with why."""
    avail = availability()
    rows = []
    for adapter in frameworks_for(task):
        ok, why = avail.get(adapter.name, (True, ""))
        where, reason = resolve_device(device, adapter) if ok else ("-", "")
        rows.append({"framework": adapter.name, "available": ok, "why": why,
                     "device": where, "device_reason": reason})
    return rows


def chosen_frameworks(task: str) -> list[str] | None:
    """The frameworks ticked on the Data page, or None (all of the task) if never set."""
    names = [a.name for a in frameworks_for(task)]
    keys = [S.framework_key(n) for n in names]
    if not any(k in st.session_state for k in keys):
        return None
    return [n for n, k in zip(names, keys, strict=True) if st.session_state.get(k, True)]


def checklist(task: str, device: str) -> None:
    """One checkbox per framework of the task, with availability and device next to it."""
    for row in framework_rows(task, device):
        key = S.framework_key(row["framework"])
        if key not in st.session_state or not row["available"]:
            st.session_state[key] = row["available"]
        left, right = st.columns([2, 3])
        left.checkbox(row["framework"], key=key, disabled=not row["available"])
        note = (f"not available: {row['why']}" if not row["available"]
                else f"{row['device'].upper()}: {row['device_reason']}")
        right.text(note)


def gpu_panel() -> None:
    """GPU name, memory and driver where present, and per-framework GPU capability."""
    info = gpu_status()
    if not info.get("gpus"):
        st.text("No GPU: CPU for all.")
        return
    st.dataframe(pd.DataFrame(info["gpus"]), hide_index=True)
    capable = info.get("frameworks") or {}
    st.dataframe(pd.DataFrame({"library": list(capable),
                               "uses the GPU": ["yes" if v else "no" for v in capable.values()]}),
                 hide_index=True)


def cv_choice() -> int | None:
    """The Data page's evaluation choice: folds, 0 for one holdout split, None for auto."""
    value = st.session_state.get(S.CV, "auto")
    return None if value == "auto" else int(value)


def repeats_choice() -> int | None:
    """The Data page's repeats of the folds, None for auto."""
    value = st.session_state.get(S.REPEATS, "auto")
    return None if value == "auto" else int(value)


def fits_text(data: Prepared) -> str:
    """What the evaluation chosen costs, shown before it starts: fits per framework and in all."""
    y, classes = encode_target(data.y, data.task)
    try:
        k, _ = resolve_folds(cv_choice(), len(y), y, data.task, classes)
        r = resolve_repeats(repeats_choice(), k)
    except ModeldevError as exc:
        return str(exc)
    per = r * k + 1 if k else 1
    n = len(chosen_frameworks(data.task) or frameworks_for(data.task))
    return (f"{scheme_text(k, r)}: {per} fits per framework ({r * k} folds and the final fit), "
            f"{per * n} for the {n} frameworks; each repeat adds {k * n} fits and power to "
            "tell frameworks apart.")


def decision_widgets(task: str) -> None:
    """Binary tasks: the decision threshold; classification: class weights and calibration."""
    if task == "regression":
        return
    cols = st.columns(3)
    if task == "binary":
        cols[0].selectbox("Decision threshold", list(S.THRESHOLD_CHOICES), key=S.THRESHOLD,
                          format_func=lambda v: S.THRESHOLD_LABELS.get(v, v),
                          help="the probability above which a row is called positive; tuned "
                               "on out-of-fold predictions, never on the rows it is scored on")
    cols[1].selectbox("Class weights", ["none", "balanced"], key=S.CLASS_WEIGHT,
                      help="balanced: every class weighs as much as the others in each fit")
    cols[2].selectbox("Calibrate probabilities", ["none", "sigmoid", "isotonic"],
                      key=S.CALIBRATION, help="fitted out of fold; use it where the "
                                              "probabilities themselves will be used")


def decision_choices(task: str) -> dict[str, Any]:
    """The train job's threshold, class weight and calibration args from the Data page."""
    if task == "regression":
        return {}
    threshold = st.session_state.get(S.THRESHOLD, "auto")
    return {"threshold": float(threshold) if threshold == "0.5" else threshold
            if task == "binary" else None,
            "class_weight": st.session_state.get(S.CLASS_WEIGHT, "none"),
            "calibration": st.session_state.get(S.CALIBRATION, "none")}


def time_limit(key: str) -> float | None:
    """A time-limit input's value in seconds; 0 (the default) means none."""
    value = float(st.session_state.get(key) or 0)
    return value if value > 0 else None


def train_args(choice: dict[str, Any]) -> dict[str, Any]:
    """The train JobSpec args for the current setup (see modeldev.jobs.store)."""
    data = choice["prepared"]
    experiment = (st.session_state.get(S.EXPERIMENT_NAME) or "").strip() or None
    metric = st.session_state.get(S.METRIC)
    return {**choice["spec"].job_args(), "target": data.target,
            "task": st.session_state.get(S.TASK, "auto"),
            "frameworks": chosen_frameworks(data.task),
            "primary_metric": metric if metric in metric_options(data.task) else None,
            "seed": int(st.session_state.get(S.SEED, DEFAULT_SEED)),
            "cv": cv_choice(), "repeats": repeats_choice(), **decision_choices(data.task),
            "framework_timeout": time_limit(S.FRAMEWORK_TIMEOUT),
            "device": st.session_state.get(S.DEVICE, "auto"), "experiment": experiment}
