"""Runs: past Phase 1 sessions and tuning runs of the experiment, read from MLflow."""

from __future__ import annotations

import streamlit as st

from modeldev.config import redact_uri
from modeldev.tracking import tags as T
from modeldev.ui import common, registry, routing, sessions
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
st.title("Runs")
if common.tracking_broken():
    st.stop()
experiment = common.experiment_id()
phase1 = sessions.phase1_sessions(experiment)
tuning = sessions.tuning_parents(experiment)
if not phase1 and not tuning:
    common.pointer(S.PAGE_TRAINING, "No runs in this experiment yet: train first.",
                   "Go to Training")
    st.stop()

rows = sessions.runs_table(phase1, tuning)
st.caption("Phase 1 sessions (best model and its cross-validated value, or its validation "
           "value with one holdout split) and tuning runs (tuned framework, its best value on "
           "the same folds, improvement over the baseline on test).")
st.dataframe(rows, hide_index=True, key="runs_table")

by_id = {r["run_id"]: r for r in rows}
chosen = st.selectbox("Run", list(by_id), key=S.RUNS_PICK,
                      format_func=lambda i: f"{by_id[i]['kind']} · {by_id[i]['started']} · "
                                            f"{by_id[i]['best']} · {i[:8]}")
row = by_id[chosen]
left, right = st.columns(2)
if row["kind"] == "Phase 1":
    if left.button("Open in Comparison", key=S.RUNS_OPEN_COMPARISON,
                   icon=":material/bar_chart:"):
        st.session_state[S.PHASE1_RUN] = chosen
        st.switch_page(S.PAGE_COMPARISON)
    if right.button("Tune from this session", key=S.RUNS_OPEN_TUNING, icon=":material/tune:"):
        st.session_state[S.PHASE1_RUN] = chosen
        st.switch_page(S.PAGE_TUNING)
elif right.button("Open in Tuning", key=S.RUNS_OPEN_TUNING, icon=":material/tune:"):
    st.session_state[S.TUNE_PARENT] = chosen
    phase1_id = sessions.run_tags(chosen).get(T.PHASE1_RUN_ID)
    if phase1_id:
        st.session_state[S.PHASE1_RUN] = phase1_id
    st.switch_page(S.PAGE_TUNING)

st.subheader("Registered models")
versions = registry.versions()
if versions:
    st.caption("Every registered version (the Model Registry): its aliases, the decision "
               "that registered it and the run it came from; score one on the Predict page.")
    st.dataframe(registry.versions_table(versions), hide_index=True, key="runs_versions")
else:
    st.text("No registered model yet: a tuning registers the model it carries forward.")

uri = redact_uri(settings.tracking_uri)  # never the credentials it may carry
if uri.startswith(("http://", "https://")):
    st.link_button("Open in the MLflow UI", f"{uri.rstrip('/')}/#/experiments/{experiment}"
                     f"/runs/{chosen}", icon=":material/open_in_new:")
else:
    st.caption("To browse the embedded store in the MLflow UI (it binds 127.0.0.1), run:")
    st.code(f"mlflow ui --backend-store-uri {uri}", language="bash")
