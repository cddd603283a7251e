"""The live job panel: re-attach to the owner's job, poll its files while it runs, cancel it.

Progress comes from the job folder (status.json, events.jsonl, job.log) through modeldev.jobs.store,
read by an `st.fragment(run_every=...)` that polls only while the job is queued or running; when
it ends, one full rerun draws the results and stops the polling. That rerun draws the panel
without a fragment: a poll the browser had already sent then finds no fragment to rerun and is
skipped. (Rerunning the same fragment right after the full rerun left parts of the page blank in
Streamlit 1.67: the progress table and what follows the panel, such as "See the comparison".)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from modeldev.config import Settings
from modeldev.errors import ModeldevError
from modeldev.jobs import store as jobs
from modeldev.ui import common, sessions
from modeldev.ui import state as S

POLL_S = 1.0
LOG_LINES = 40
Body = Callable[[Settings, dict[str, Any], list[dict[str, Any]]], None]


def current_job(settings: Settings, owner: str, kind: str) -> dict[str, Any] | None:
    """The owner's running job of `kind`, else its latest one (after a reload too)."""
    job = jobs.active_job(settings, owner=owner, kind=kind)
    if job is not None:
        return job
    found = jobs.list_jobs(settings, owner=owner, kind=kind)
    return found[0] if found else None


def submit(kind: str, args: dict[str, Any], owner: str, label: str) -> str | None:
    """Submit a job; a refusal is shown as its one sentence and nothing starts."""
    try:
        job_id = jobs.submit(jobs.JobSpec(kind=kind, args=args, owner=owner, label=label),
                             common.settings())
    except ModeldevError as exc:
        common.error(exc)
        return None
    st.toast(f"Started {kind} job {job_id}")
    return job_id


def events_of(settings: Settings, job_id: str) -> list[dict[str, Any]]:
    """All events of a job so far; only the new bytes of events.jsonl are read each poll."""
    cache = st.session_state.setdefault(S.EVENTS_CACHE, {})
    entry = cache.setdefault(job_id, {"offset": 0, "events": []})
    new, entry["offset"] = jobs.read_events(settings, job_id, entry["offset"])
    entry["events"].extend(new)
    return entry["events"]


def adopt_result(job: dict[str, Any]) -> None:
    """Once per finished job: show its session in the result pages and the sidebar."""
    seen = st.session_state.setdefault(S.SEEN_RESULTS, set())
    result = job.get("result") or {}
    if job["state"] != "finished" or job["job_id"] in seen or not result:
        return
    seen.add(job["job_id"])
    sessions.clear()
    if job["kind"] == "train":
        st.session_state[S.PHASE1_RUN] = result.get("parent_run_id")
        experiment = result.get("experiment_id")
    else:
        st.session_state[S.TUNE_PARENT] = result.get("parent_run_id")
        experiment = result.get("experiment_id")
    if experiment and experiment != common.experiment_id():
        S.select_experiment(experiment)
        st.rerun()


def progress_section(settings: Settings, job: dict[str, Any] | None, body: Body,
                     cancel_key: str, kind: str) -> None:
    """The 'Progress' heading and this session's `kind` job panel, or a line saying none ran."""
    st.subheader("Progress")
    if job is None:
        st.text(f"No {kind} job in this browser session yet.")
    else:
        panel(settings, job, body, cancel_key)


def panel(settings: Settings, job: dict[str, Any], body: Body, cancel_key: str) -> None:
    """State, elapsed time, `body` (progress), cancel and the log tail; live while active."""
    adopt_result(job)
    active = job["state"] in common.ACTIVE_STATES

    def live() -> None:
        status = jobs.read_status(settings, job["job_id"])
        running = status["state"] in common.ACTIVE_STATES
        if active and not running:
            st.rerun()  # the job ended: a full rerun draws results and stops polling
        _header(status)
        body(settings, status, events_of(settings, status["job_id"]))
        if running and st.button("Cancel the job", key=cancel_key, type="secondary",
                                 icon=":material/cancel:"):
            asked = jobs.cancel(settings, status["job_id"])
            st.toast("Cancel requested" if asked else "The job is no longer running")
        with st.expander(f"Log (last {LOG_LINES} lines)", expanded=False):
            st.code(jobs.log_tail(settings, status["job_id"], LOG_LINES, tracebacks=False)
                    or "(empty)", language=None)

    if active:
        st.fragment(run_every=POLL_S)(live)()
    else:  # not a fragment: a late poll of the one above is skipped (see the module doc)
        live()


def _header(status: dict[str, Any]) -> None:
    start = status.get("started_at") or status.get("created_at")
    end = status.get("ended_at") or time.time()
    st.text(f"Job {status['job_id']} · {status.get('label') or status['kind']} · "
            f"{status['state']} · elapsed {common.seconds_text(end - start if start else None)}")
    if status["state"] == "failed":
        common.error(status.get("error") or "The job failed; see its log.")
    elif status["state"] == "cancelled":
        st.warning("The job was cancelled; its runs ended KILLED.", icon=":material/cancel:")
