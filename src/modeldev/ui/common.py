"""Shared helpers of every page: settings, the tracker, plain text, pointers, the sidebar."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from modeldev.config import Settings, resolve_settings
from modeldev.errors import ModeldevError
from modeldev.jobs import store as jobs
from modeldev.tracking.store import sqlite_path, sqlite_version
from modeldev.tracking.tracker import Tracker
from modeldev.ui import state as S

ACTIVE_STATES = jobs.ACTIVE_STATES
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~:$=&\"'])")


def plain(text: Any) -> str:
    """`text` with every Markdown-significant character escaped: shown literally, never parsed."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def error(exc_or_text: Any) -> None:
    """An error box with one sentence, shown as plain text."""
    st.error(plain(exc_or_text), icon=":material/error:")


def settings() -> Settings:
    """The workspace settings (env MODELDEV_* then defaults), resolved for this run; a file
    is parsed in a memory-limited child here (one process serves every session), and so in
    the jobs this app starts."""
    resolved = resolve_settings()
    return dataclasses.replace(resolved,
                               limits=dataclasses.replace(resolved.limits, isolate=True))


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_tracker(tracking_uri: str, workspace: str) -> Tracker:
    """One Tracker per store and workspace, shared by every session of the server."""
    return Tracker(resolve_settings(workspace, tracking_uri))


@st.cache_resource(show_spinner=False, max_entries=64)
def figure(key: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    """The figure (or tuple of figures) `_build()` makes, built once per `key` (everything it
    depends on), without a fixed width: the app draws it at its column's.

    Building a Plotly figure costs 0.05-0.2 s, most of a warm page render; st.plotly_chart only
    reads a figure (it serialises a copy), so one object can serve every session. A width set
    for the PNG (1,600 px for the comparison) made the browser lay each chart out at that width
    first, then again at the column's: twice the drawing in a new tab.
    """
    built = _build()
    for fig in built if isinstance(built, tuple) else (built,):
        fig.update_layout(width=None)
    return built


def chart(fig: Any, key: str, where: Any = None) -> None:
    """Draw `fig` in `where` (a column; the page by default) with its own template.

    theme=None: Streamlit's theme restyles every figure in the browser, about 0.1 s of its main
    thread per chart in a new tab (benchmarks/results/pages.md), and the figures already carry
    plotly_white, the look of their HTML and PNG copies.
    """
    (where or st).plotly_chart(fig, key=key, theme=None)


def store_exists(s: Settings) -> bool:
    """False while the embedded SQLite store has not been created (nothing has run yet)."""
    if not s.uses_sqlite:
        return True
    try:
        return sqlite_path(s.tracking_uri).exists()
    except ModeldevError:
        return True  # let the Tracker say what is wrong with the URI


def shared_tracker(s: Settings) -> Tracker | None:
    """The server's Tracker of `s`'s store; None while there is no store (it raises, showing
    nothing, when MLflow is unusable).

    An empty workspace gets its store from the first job, not from looking at a page."""
    return cached_tracker(s.tracking_uri, str(s.workspace)) if store_exists(s) else None


def tracker() -> Tracker | None:
    """The shared Tracker of the workspace, or None after showing why MLflow is unusable."""
    try:
        return shared_tracker(settings())
    except ModeldevError as exc:
        error(exc)
        return None


def tracking_broken() -> bool:
    """True (after showing why) when the store exists but MLflow cannot be used."""
    return store_exists(settings()) and tracker() is None


def pointer(page: str, text: str, label: str) -> None:
    """Say what is missing and link to the page that provides it."""
    st.info(text, icon=":material/arrow_forward:")
    st.page_link(page, label=label)


def when(ms: int | None) -> str:
    """A run's start time (epoch milliseconds) as local 'YYYY-MM-DD HH:MM:SS'."""
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def seconds_text(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 20 s' or '12 s'."""
    if seconds is None:
        return "-"
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


SERVER_LIST_TTL_S = 3  # how long a list read from a tracking server is shown before a re-read


def store_stamp(tracking_uri: str) -> Any:
    """Changes whenever the store may have: a key for cached lists, so a new session reuses
    them until a run or experiment is written (the SQLite file's version), or for a server,
    which cannot be watched, for SERVER_LIST_TTL_S."""
    found = sqlite_version(tracking_uri)
    return found if found is not None else int(time.time() // SERVER_LIST_TTL_S)


@st.cache_data(show_spinner=False, max_entries=16)
def _experiments(tracking_uri: str, workspace: str, stamp: Any) -> list[tuple[str, str]]:
    tracker = cached_tracker(tracking_uri, workspace)
    out = [(e.experiment_id, e.name) for e in tracker.experiments()]
    if any(i == "0" for i, _ in out) and not tracker.has_runs("0"):
        out = [(i, n) for i, n in out if i != "0"]  # MLflow's empty "Default": noise here
    return out


def experiments(tracking_uri: str, workspace: str) -> list[tuple[str, str]]:
    """(id, name) of the store's active experiments, most recently updated first (read again
    only once the store has changed)."""
    return _experiments(tracking_uri, workspace, store_stamp(tracking_uri))


def forget_experiments() -> None:
    """Read the experiments again on the next call (one was created a moment ago)."""
    _experiments.clear()


def experiment_id() -> str | None:
    """The experiment the sidebar shows (None on an empty store)."""
    return st.session_state.get(S.SIDEBAR_EXPERIMENT)


def sidebar(s: Settings, owner: str) -> None:
    """Workspace, experiment picker and the owner's current job."""
    with st.sidebar:
        st.caption("Workspace")
        st.text(str(s.workspace))
        _experiment_picker(s)
        st.caption("Current job")
        _current_job(s, owner)


def _current_job(s: Settings, owner: str) -> None:
    job = jobs.active_job(s, owner=owner)

    def status() -> None:  # polls (only while a job runs) so the state shown stays current
        now = jobs.active_job(s, owner=owner)
        if now is None and job is not None:
            st.rerun()  # it ended: redraw the page once (new results) and stop polling
        if now is None:
            st.text("none running")
            return
        st.text(f"{now['kind']} · {now['state']}\n{now.get('label') or now['job_id']}")
        target = S.PAGE_TRAINING if now["kind"] == "train" else S.PAGE_TUNING
        st.page_link(target, label="Follow the job", icon=":material/monitoring:")

    if job:
        st.fragment(run_every=2.0)(status)()
    else:  # not a fragment: a late poll of the one above is skipped (as in ui.job_panel)
        status()


def _experiment_picker(s: Settings) -> None:
    if not store_exists(s):
        st.text("No experiments yet")
        return
    try:
        options = experiments(s.tracking_uri, str(s.workspace))
    except ModeldevError as exc:
        error(exc)
        return
    except Exception as exc:  # a broken store must not take the whole app down
        error(f"MLflow could not list experiments: {type(exc).__name__}.")
        return
    names = dict(options)
    pending = st.session_state.pop(S.PENDING_EXPERIMENT, None)
    if pending and pending not in names:  # created a moment ago: the cached list lags
        forget_experiments()
        names = dict(experiments(s.tracking_uri, str(s.workspace)))
    if pending in names:
        st.session_state[S.SIDEBAR_EXPERIMENT] = pending
    if st.session_state.get(S.SIDEBAR_EXPERIMENT) not in names:
        st.session_state.pop(S.SIDEBAR_EXPERIMENT, None)
    if not names:
        st.text("No experiments yet")
        return
    st.selectbox("Experiment", list(names), format_func=lambda i: names.get(i, i),
                 key=S.SIDEBAR_EXPERIMENT)
