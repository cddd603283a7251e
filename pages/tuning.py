"""Tuning: edit the grid of the best framework, see its size and ETA, run it as a job, then
draw parameter impact, the top 10 and the improvement of any tuning run from MLflow."""

from __future__ import annotations

import streamlit as st

from modeldev.execution.common import default_workers
from modeldev.frameworks.registry import get_framework
from modeldev.tracking import tags as T
from modeldev.tuning.baseline import choose_framework, tunable
from modeldev.ui import (
    common,
    grid_editor,
    job_panel,
    progress,
    registry,
    results,
    resume,
    routing,
    sessions,
    setup,
)
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
owner = S.owner_id(settings.access.user_header)
st.title("Tuning")
if common.tracking_broken():
    st.stop()
experiment = common.experiment_id()
session = sessions.current_session(experiment, label="Phase 1 session to tune")
if session is None:
    common.pointer(S.PAGE_TRAINING, "Tuning starts from a Phase 1 session, and this experiment "
                   "has none yet: train first.", "Go to Training")
    st.stop()
files = sessions.run_files(session)
ranking, info = files.get("all_models_metrics"), files.get("best_model_info")
if not ranking or not info:
    common.pointer(S.PAGE_TRAINING, "This Phase 1 session has not finished (or left no files "
                   "here); pick a finished one.", "Go to Training")
    st.stop()
task, metric = info["task"], info["primary_metric"]
options = [r["name"] for r in ranking
           if r["status"] == "FINISHED" and tunable(get_framework(r["name"], task), task)]
if not options:
    common.error("No finished framework of this session has a tuning grid.")
    st.stop()
best, note = choose_framework(ranking, metric, task, None)
if st.session_state.get(S.TUNE_FRAMEWORK) not in options:
    st.session_state[S.TUNE_FRAMEWORK] = best
framework = st.selectbox("Framework", options, key=S.TUNE_FRAMEWORK,
                         help=f"default: the best by {metric} that has a grid ({best})")
if note:
    st.info(common.plain(note))
adapter = get_framework(framework, task)

st.subheader("Grid")
if st.button("Reset to the default grid", key=S.TUNE_RESET, icon=":material/restart_alt:"):
    grid_editor.reset(adapter, task)
    st.rerun()
grid = grid_editor.editor(adapter, task, settings.limits.max_combinations)
most = settings.access.max_workers
st.session_state.setdefault(S.TUNE_WORKERS, min(default_workers(), most))
st.session_state[S.TUNE_WORKERS] = min(int(st.session_state[S.TUNE_WORKERS]), most)
left, right = st.columns(2)
workers = int(left.number_input("Parallel workers", min_value=1, max_value=most, step=1,
                                key=S.TUNE_WORKERS, help=f"at most {most} on this server "
                                "(MODELDEV_MAX_WORKERS)"))
st.session_state.setdefault(S.TUNE_TIMEOUT, 0)
right.number_input("Trial time limit (seconds, 0: none)", min_value=0, step=30,
                   key=S.TUNE_TIMEOUT, help="a trial running longer is killed and logged FAILED")
trial_timeout = setup.time_limit(S.TUNE_TIMEOUT)
if grid is not None:
    row = next(r for r in ranking if r["name"] == framework)
    est = grid_editor.estimate(grid, adapter, task, row["metrics"].get("training_time"), workers)
    staged = f", staged on {est['prefix']}" if est["prefix"] else ""
    st.text(f"{est['combinations']:,} combinations in {est['fits']:,} fits{staged}, "
            f"{est['parallel']} at a time; estimated time: {common.seconds_text(est['seconds'])} "
            "(rough estimate from the Phase 1 fit time)")

job = job_panel.current_job(settings, owner, "tune")
running = job is not None and job["state"] in common.ACTIVE_STATES
if st.button("Start tuning", key=S.TUNE_START, type="primary", icon=":material/play_arrow:",
             disabled=grid is None or running) and grid is not None:
    args = {"training_run_id": session["run_id"], "framework": framework, "grid": grid,
            "primary_metric": metric, "workers": workers, "trial_timeout": trial_timeout,
            "resume": None, "dask_scheduler": None}
    if job_panel.submit("tune", args, owner, f"{framework}: {est['combinations']} combinations"):
        st.rerun()

job_panel.progress_section(settings, job, progress.tune_body, S.TUNE_CANCEL, "tuning")
resume.offer(T.KIND_TUNING, {"workers": workers, "trial_timeout": trial_timeout}, owner,
             running, S.TUNE_RESUME_PICK, S.TUNE_RESUME)

st.subheader("Results")
parent = sessions.pick(sessions.tuning_parents(experiment), "Tuning run", S.TUNE_PARENT_PICK,
                       S.TUNE_PARENT, fmt=sessions.tuning_label)
if parent is None:
    st.text("No tuning run in this experiment yet.")
else:
    results.tuning_results(parent)
    st.subheader("Registered model")
    registry.register_panel(parent, S.TUNE_REGISTER)
