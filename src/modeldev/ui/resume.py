"""The resume offers of the Training and Tuning pages: a session that failed, was cancelled or
whose process died is finished by a new job (`modeldev train|tune --resume` behind it)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from modeldev.tracking import tags as T
from modeldev.ui import common, job_panel, sessions

RESUMABLE = ("FAILED", "KILLED")


def _sweep(experiment_id: str) -> None:
    """End the runs whose process died, so a killed session shows KILLED, not RUNNING."""
    s = common.settings()
    if common.cached_tracker(s.tracking_uri, str(s.workspace)).sweep_stale_runs([experiment_id]):
        sessions.clear()


def resumable(experiment_id: str | None, kind: str) -> list[dict[str, Any]]:
    """The experiment's sessions of `kind` (Phase 1 or tuning) that ended before finishing."""
    if not experiment_id:
        return []
    _sweep(experiment_id)
    runs = (sessions.phase1_sessions(experiment_id) if kind == T.KIND_PHASE1
            else sessions.tuning_parents(experiment_id))
    return [r for r in runs if r["status"] in RESUMABLE]


def offer(kind: str, args: dict[str, Any], owner: str, busy: bool, pick_key: str,
          button_key: str) -> None:
    """A picker over the resumable sessions and a button that resumes the chosen one as a job
    (`args` are the job's other arguments, such as a time limit); nothing when none is left."""
    runs = resumable(common.experiment_id(), kind)
    if not runs:
        return
    job_kind, noun = ("train", "session") if kind == T.KIND_PHASE1 else ("tune", "tuning run")
    label = sessions.session_label if kind == T.KIND_PHASE1 else sessions.tuning_label
    st.subheader("Resume")
    by_id = {r["run_id"]: r for r in runs}
    chosen = st.selectbox(f"Failed, cancelled or killed {noun}", list(by_id), key=pick_key,
                          format_func=lambda i: label(by_id[i]))
    clicked = st.button(f"Resume this {noun}", key=button_key, disabled=busy or chosen is None,
                        icon=":material/replay:", help="the same data, split and options; only "
                        "what did not finish runs again")
    if clicked and job_panel.submit(job_kind, {**args, "resume": chosen}, owner,
                                    f"resume {chosen[:8]}"):
        sessions.clear()
        st.rerun()
