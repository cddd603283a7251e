"""Comparison: the 8 standardized metrics, the full table, the best model and per-model detail."""

from __future__ import annotations

import streamlit as st

from modeldev.charts.common import direction_text
from modeldev.charts.comparison import comparison_figure
from modeldev.ui import common, results, routing, sessions
from modeldev.ui import state as S

routing.ensure_router()

st.title("Comparison")
if common.tracking_broken():
    st.stop()
session = sessions.current_session(common.experiment_id())
if session is None:
    common.pointer(S.PAGE_TRAINING, "No Phase 1 session in this experiment yet: train first.",
                   "Go to Training")
    st.stop()
files = sessions.run_files(session)
rows, info = files.get("all_models_metrics"), files.get("best_model_info")
if not rows or not info:
    if session["status"] == "RUNNING":
        common.pointer(S.PAGE_TRAINING, "This session is still training; its comparison "
                       "appears when it finishes.", "Follow it on Training")
    else:
        common.error(f"Session {session['run_id']} ({session['status']}) left no comparison "
                     "files, here or in MLflow.")
    st.stop()

task, primary, best = info["task"], info["primary_metric"], info.get("model_name")
cols = st.columns([2, 1, 1])
cols[0].metric("Best model", best or "none")
value, spread = info.get("primary_metric_value"), info.get("cv") or {}
folds = info.get("cv_folds") or 0
scores = folds * (info.get("cv_repeats") or 1)  # fold scores behind each mean: R x K
cols[1].metric(f"{'Cross-validated' if folds else 'Validation'} {primary}",
               "-" if value is None else f"{value:.4f}",
               help=f"{direction_text(primary)}; 95 % interval "
                    f"{spread.get('ci_low') or '-'} to {spread.get('ci_high') or '-'}")
test_value = info.get("test_primary_metric_value")
cols[2].metric(f"Test {primary}", "-" if test_value is None else f"{test_value:.4f}")


def _comparison() -> object:
    figure = comparison_figure(rows, task, primary, best)
    figure.update_annotations(font_size=12)  # panel titles fit a narrower window than the PNG's
    return figure


stamp = (session["run_id"], session["status"], session["end"], task, primary, best)
common.chart(common.figure(("comparison", *stamp), _comparison), "cmp_chart")

st.info(common.plain(results.tier_sentence(info, best, folds)), icon=":material/balance:")
# Folded: a table is drawn only once opened, and drawing it cost a new tab ~0.4 s of the
# browser's time (benchmarks/results/pages.md); the chart above shows the same means.
with st.expander("All metrics: every model's figures and intervals, and its test metrics"):
    st.caption(f"{f'Means over {scores} fold scores' if folds else 'Validation values'} "
               f"(whiskers and interval columns: 95 %), then test_ metrics of the final models; "
               f"task {task}.")
    st.dataframe(results.metrics_table(rows, task, primary), hide_index=True, key="cmp_table")

st.subheader("Quality and serving cost")
st.caption("What each model costs to serve beside what it scores: milliseconds per call of "
           "its predict (p50 and p95, on the fitting machine, preprocessing included) for one "
           "row and for 1,024 rows, and the size of its logged files. The registered "
           "champion's own figures, through MLflow's pyfunc, are on its serving card.")
st.dataframe(results.serving_table(rows, primary), hide_index=True, key="cmp_serving")

st.subheader("Model detail")
finished = [r for r in rows if r["status"] == "FINISHED"]
if not finished:
    st.text("No framework finished in this session.")
    st.stop()
names = [r["name"] for r in finished]
if st.session_state.get(S.CMP_MODEL) not in names:
    st.session_state[S.CMP_MODEL] = best if best in names else names[0]
chosen = st.selectbox("Model", names, key=S.CMP_MODEL)
results.model_detail(session, next(r for r in finished if r["name"] == chosen))
st.page_link(S.PAGE_TUNING, label="Next: tune the best framework", icon=":material/tune:")
