"""modeldev dashboard: the router.

`st.navigation` over the pages listed explicitly, a shared sidebar (workspace, experiment, the
current job) and `st.set_page_config` once. Pages live in pages/ and stay thin; the helpers they
share are in modeldev.ui. Start it with `streamlit run app.py`.
"""

from __future__ import annotations

import streamlit as st

from modeldev.jobs import store as jobs
from modeldev.ui import common, routing
from modeldev.ui import state as S

st.set_page_config(page_title="modeldev", page_icon=":material/model_training:", layout="wide")
S.keep_widget_state()
settings = common.settings()
owner = S.owner_id(settings.access.user_header)
if not st.session_state.get(S.SWEPT):
    try:  # jobs whose process died: mark them, and their MLflow runs, ended
        jobs.sweep_dead_jobs(settings, common.shared_tracker(settings))
    except Exception as exc:  # never block the app on housekeeping
        common.error(f"Could not check for dead jobs: {type(exc).__name__}: {exc}")
    st.session_state[S.SWEPT] = True

PAGES = [
    st.Page(S.PAGE_DATA, title="Data and setup", icon=":material/table:", url_path="data",
            default=True),
    st.Page(S.PAGE_TRAINING, title="Training", icon=":material/model_training:",
            url_path="training"),
    st.Page(S.PAGE_COMPARISON, title="Comparison", icon=":material/bar_chart:",
            url_path="comparison"),
    st.Page(S.PAGE_TUNING, title="Tuning", icon=":material/tune:", url_path="tuning"),
    st.Page(S.PAGE_PREDICT, title="Predict", icon=":material/batch_prediction:",
            url_path="predict"),
    st.Page(S.PAGE_RUNS, title="Runs", icon=":material/history:", url_path="runs"),
    st.Page(S.PAGE_ARTIFACTS, title="Artifacts", icon=":material/folder_zip:",
            url_path="artifacts"),
]
page = st.navigation(PAGES)
common.sidebar(settings, owner)
with routing.routed():
    page.run()
