"""Widgets of the Data page: the source picker, the target/task/metric choice and the report."""

from __future__ import annotations

from typing import Any

import streamlit as st

from modeldev.config import Settings
from modeldev.data.loading import demo_names
from modeldev.errors import InputError
from modeldev.evaluation.metrics import TASKS
from modeldev.ui import data_source as ds
from modeldev.ui import state as S
from modeldev.ui.common import error, plain


def source_picker(settings: Settings) -> None:
    """Demo, upload, server path or pipeline context; an upload is kept in the workspace."""
    kinds = ds.source_kinds(settings)
    if st.session_state.get(S.SRC_KIND) not in kinds:
        st.session_state[S.SRC_KIND] = "demo"
    st.session_state.setdefault(S.SRC_CONTEXT, str(settings.context_path))
    kind = st.radio("Source", kinds, format_func=S.SOURCE_LABELS.get,
                    key=S.SRC_KIND, horizontal=True)
    if kind == "demo":
        st.selectbox("Demo dataset", demo_names(), key=S.SRC_DEMO)
    elif kind == "upload":
        uploaded = st.file_uploader("CSV or Parquet file", type=ds.UPLOAD_TYPES,
                                    key=S.SRC_UPLOAD)
        if uploaded is not None:
            try:
                st.session_state[S.UPLOADED_PATH] = ds.save_upload(uploaded, settings)
            except InputError as exc:
                st.session_state.pop(S.UPLOADED_PATH, None)
                error(exc)
    elif kind == "path":
        st.text_input("Path of a CSV or Parquet file on the server", key=S.SRC_PATH,
                      placeholder="/data/features.parquet")
    elif settings.access.server_files:
        st.text_input("Path of pipeline_context.json", key=S.SRC_CONTEXT)
    else:
        st.text(f"pipeline_context.json of this workspace: {settings.context_path}")


def target_task_metric(choice: dict[str, Any]) -> None:
    """Target column, task (inferred, overridable) and primary metric."""
    columns = [str(c) for c in choice["source"].frame.columns]
    if st.session_state.get(S.TARGET) not in columns:
        st.session_state[S.TARGET] = choice["target"]
    left, mid, right = st.columns(3)
    left.selectbox("Target column", columns, key=S.TARGET)
    mid.selectbox("Task", ["auto", *TASKS], key=S.TASK,
                  help="auto: inferred from the target; pick one to override it")
    data = choice["prepared"]
    if data is None:
        return
    mid.caption(f"Task in use: {data.task} ({plain(data.task_reason)})")
    options = ds.metric_options(data.task)
    if st.session_state.get(S.METRIC) not in options:
        st.session_state[S.METRIC] = options[0]
    right.selectbox("Primary metric", options, key=S.METRIC,
                    help="the best framework is picked by this metric's cross-validated mean "
                         "(its validation value with one holdout split)")
    advice = ds.imbalance_advice(data)
    if advice:
        st.info(plain(advice), icon=":material/balance:")


def report(choice: dict[str, Any]) -> None:
    """Rows, columns, types, missing values, dropped columns and why, class balance, preview."""
    frame, data = choice["source"].frame, choice["prepared"]
    if choice["error"]:
        error(choice["error"])
    cols = st.columns(4)
    cols[0].metric("Rows", f"{frame.shape[0]:,}")
    cols[1].metric("Columns", f"{frame.shape[1]:,}")
    if data is not None:
        cols[2].metric("Features used", len(data.plan.used))
        cols[3].metric("Dropped", len(data.plan.dropped))
        for notice in data.notices:
            st.warning(plain(notice), icon=":material/info:")
    st.dataframe(ds.column_report(frame, choice.get("target", ""), data), hide_index=True,
                 key="data_columns_table")
    balance = ds.class_balance(data) if data is not None else None
    if balance is not None:
        st.caption("Class balance")
        st.dataframe(balance, hide_index=True)
    with st.expander(f"Preview: first {min(len(frame), ds.PREVIEW_ROWS)} rows", expanded=False):
        st.dataframe(ds.preview(frame), hide_index=True)
