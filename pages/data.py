"""Data and setup: the table, its report, target/task/metric, frameworks, device and GPU."""

from __future__ import annotations

import streamlit as st

from modeldev.data.split import DEFAULT_SEED
from modeldev.ui import common, data_view, routing, setup
from modeldev.ui import data_source as ds
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
st.title("Data and setup")

st.subheader("Data")
data_view.source_picker(settings)
choice = ds.current_choice(settings)
if choice["source"] is None:
    common.error(choice["error"])
    st.stop()
st.caption("Loaded")
st.text(f"{choice['source'].name}  ({choice['source'].origin})")
data_view.target_task_metric(choice)

st.subheader("Dataset report")
data_view.report(choice)
data = choice["prepared"]

st.subheader("Frameworks")
left, mid, cv_col, right = st.columns(4)
left.selectbox("Device", ["auto", "cpu", "gpu"], key=S.DEVICE,
               help="auto: the GPU where a framework can use one, else the CPU")
st.session_state.setdefault(S.SEED, DEFAULT_SEED)
mid.number_input("Split seed", min_value=0, max_value=2**31 - 1, step=1, key=S.SEED)
cv_col.selectbox("Evaluation", S.CV_CHOICES, key=S.CV, format_func=S.CV_LABELS.get,
                 help="every framework is scored on the same folds of the non-test rows; "
                      "the winner is compared with the others by a paired test")
right.text_input("MLflow experiment", key=S.EXPERIMENT_NAME,
                 placeholder=f"{choice['source'].name}_model",
                 help="empty: the dataset name followed by _model")
repeat_col, limit_col = st.columns(2)
repeat_col.selectbox("Repeats of the folds", S.REPEAT_CHOICES, key=S.REPEATS,
                     format_func=S.REPEAT_LABELS.get,
                     help="the K-fold cut made R times: R x K scores per framework, more power "
                          "to tell frameworks apart, R times the fits")
st.session_state.setdefault(S.FRAMEWORK_TIMEOUT, 0)
limit_col.number_input("Time limit per fit (seconds, 0: none)", min_value=0, step=60,
                       key=S.FRAMEWORK_TIMEOUT,
                help="a framework whose fit (one fold, or the final fit) runs longer fails "
                     "with 'timed out'; the others go on")
if data is not None:
    setup.decision_widgets(data.task)
    st.caption(setup.fits_text(data))
    setup.checklist(data.task, st.session_state.get(S.DEVICE, "auto"))
else:
    st.text("Fix the data above to see the frameworks that apply.")

st.subheader("GPU status")
setup.gpu_panel()

st.divider()
st.page_link(S.PAGE_TRAINING, label="Next: train the baselines", icon=":material/arrow_forward:")
