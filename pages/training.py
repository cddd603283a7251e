"""Training: start Phase 1 as a background job and follow it live (re-attaches after a reload)."""

from __future__ import annotations

import streamlit as st

from modeldev.frameworks.registry import framework_names
from modeldev.tracking import tags as T
from modeldev.ui import common, job_panel, progress, resume, routing, setup
from modeldev.ui import data_source as ds
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
owner = S.owner_id(settings.access.user_header)
st.title("Training")

job = job_panel.current_job(settings, owner, "train")
running = job is not None and job["state"] in common.ACTIVE_STATES
choice = ds.current_choice(settings)

st.subheader("Setup")
if choice["prepared"] is None:
    common.error(choice["error"])
    common.pointer(S.PAGE_DATA, "Fix the data on the Data page first.", "Go to Data and setup")
    args = None
else:
    args = setup.train_args(choice)
    data = choice["prepared"]
    chosen = args["frameworks"]
    shown = {
        "data": f"{choice['source'].name} ({choice['source'].origin})",
        "target": data.target, "task": f"{data.task} ({data.task_reason})",
        "primary metric": args["primary_metric"] or ds.metric_options(data.task)[0],
        "frameworks": ", ".join(chosen) if chosen is not None
        else f"all {len(framework_names(data.task))} of the task",
        "device": args["device"], "seed": str(args["seed"]),
        "evaluation": S.CV_LABELS[st.session_state.get(S.CV, "auto")],
        "experiment": args["experiment"] or f"{choice['source'].name}_model",
    }
    st.dataframe([{"setting": k, "value": v} for k, v in shown.items()], hide_index=True,
                 key="train_setup_table")
    st.page_link(S.PAGE_DATA, label="Change the setup", icon=":material/edit:")
    if chosen is not None and not chosen:
        common.error("Tick at least one framework on the Data page.")
        args = None

clicked = st.button("Start training", key=S.TRAIN_START, type="primary",
                    disabled=args is None or running, icon=":material/play_arrow:",
                    help="runs as a background job: leaving or reloading the page keeps it going")
if clicked and args is not None:
    label = f"{choice['source'].name}: {len(args['frameworks'] or framework_names(data.task))} " \
            "frameworks"
    if job_panel.submit("train", args, owner, label):
        st.rerun()

job_panel.progress_section(settings, job, progress.train_body, S.TRAIN_CANCEL, "training")
resume.offer(T.KIND_PHASE1, {"framework_timeout": setup.time_limit(S.FRAMEWORK_TIMEOUT)},
             owner, running, S.TRAIN_RESUME_PICK, S.TRAIN_RESUME)
if job is not None and job["state"] == "finished":
    st.page_link(S.PAGE_COMPARISON, label="See the comparison", icon=":material/bar_chart:")
