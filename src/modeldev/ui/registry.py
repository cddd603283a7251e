"""The Model Registry on the pages: the registered versions (Runs), a run's registration and
its Register button (Tuning), and the champion the Predict page offers first."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from modeldev.errors import ModeldevError
from modeldev.serving.register import register_run
from modeldev.tracking import tags as T
from modeldev.tracking.records import VersionRecord
from modeldev.tracking.registry import CHAMPION, default_name
from modeldev.ui import common
from modeldev.ui import state as S


@st.cache_data(show_spinner=False, max_entries=16)
def _versions(uri: str, ws: str, stamp: Any) -> list[VersionRecord]:
    return common.cached_tracker(uri, ws).registered_versions()


def versions() -> list[VersionRecord]:
    """Every registered version of the store, newest first ([] after showing why not)."""
    s = common.settings()
    try:
        return _versions(s.tracking_uri, str(s.workspace), common.store_stamp(s.tracking_uri))
    except ModeldevError as exc:
        common.error(exc)
        return []


def versions_table(found: list[VersionRecord]) -> pd.DataFrame:
    """One row per version: name, version, aliases, the decision it carries, when, from where."""
    return pd.DataFrame([{
        "registered model": v.name, "version": v.version, "aliases": ", ".join(v.aliases),
        "verdict": v.tags.get(T.VERSION_VERDICT, ""),
        "framework": v.tags.get(T.VERSION_FRAMEWORK, ""),
        "metric": v.tags.get(T.VERSION_METRIC, ""),
        "test value": number(v.tags.get(T.VERSION_TEST_VALUE)),
        "threshold": number(v.tags.get(T.VERSION_THRESHOLD)),
        "registered": common.when(v.created), "run_id": v.run_id or ""} for v in found])


def number(text: str | None) -> float | None:
    """A tag's number (None where it holds none)."""
    try:
        return float(text) if text else None
    except ValueError:
        return None


def of_run(run_id: str, found: list[VersionRecord]) -> list[VersionRecord]:
    """The versions registered from run `run_id` (its carried model), newest first."""
    return [v for v in found if v.tags.get(T.SERVING_CARD, "").startswith(f"runs:/{run_id}/")
            or v.tags.get(T.VERSION_TUNING) == run_id]


def version_text(v: VersionRecord) -> str:
    """'breast_cancer_model version 3 (champion)'."""
    aliases = f" ({', '.join(v.aliases)})" if v.aliases else ""
    return f"{v.name} version {v.version}{aliases}"


def register_panel(run: dict[str, Any], key: str) -> None:
    """The run's registered versions, and a button that registers its carried model as the
    champion under a name (the experiment's by default)."""
    mine = of_run(run["run_id"], versions())
    if mine:
        st.success(common.plain("Registered: " + "; ".join(version_text(v) for v in mine)),
                   icon=":material/verified:")
    else:
        st.text("This run's carried model is not registered.")
    if run["status"] != "FINISHED":
        return
    experiments = dict(common.experiments(common.settings().tracking_uri,
                                          str(common.settings().workspace)))
    default = default_name(experiments.get(common.experiment_id() or "", "") or "model")
    name = st.text_input("Registered model name", value=default, key=f"{key}_name")
    if st.button("Register", key=key, icon=":material/how_to_reg:",
                 help="register the model this run carries forward and make it the champion"):
        _register(run["run_id"], name)


def _register(run_id: str, name: str) -> None:
    s = common.settings()
    try:
        with st.spinner("Registering and measuring the serving card ..."):
            done = register_run(common.cached_tracker(s.tracking_uri, str(s.workspace)), s,
                                run_id, name.strip() or None)
    except ModeldevError as exc:
        common.error(exc)
        return
    _versions.clear()
    st.toast(f"Registered {version_text(done.version)}")
    st.session_state[S.PREDICT_MODEL] = done.champion_uri
    st.rerun()


def champion_choices(found: list[VersionRecord]) -> dict[str, str]:
    """URI -> label of what the Predict page offers: each registered model's champion first,
    then every version."""
    out = {f"models:/{v.name}@{CHAMPION}": f"{v.name} @champion (version {v.version})"
           for v in found if CHAMPION in v.aliases}
    out.update({v.uri: version_text(v) for v in found})
    return out
