"""What the job panel shows inside: per-framework rows and loss curves (train), trials (tune)."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from modeldev.config import Settings
from modeldev.ui import common, results, sessions

TOP10_EVERY_S = 3


def framework_rows(events: list[dict[str, Any]], now: float | None = None) -> list[dict]:
    """One row per framework of a train job: state, device, seconds and the key metrics."""
    now = now or time.time()
    rows: dict[str, dict[str, Any]] = {}
    for e in events:
        kind, name = e.get("type"), str(e.get("framework"))
        if kind == "session_started":
            for fw in e.get("frameworks", []):
                rows[fw] = {"framework": fw, "state": "queued", "device": "", "seconds": None}
        elif kind == "framework_started":
            rows.setdefault(name, {"framework": name})
            rows[name].update(state="running", device=e.get("device", ""), _t=e.get("time"))
        elif kind == "framework_finished":
            rows.setdefault(name, {"framework": name})
            rows[name].update(state="done", device=e.get("device", ""), seconds=e.get("seconds"))
            if e.get("decision_threshold") is not None:
                rows[name]["threshold"] = round(float(e["decision_threshold"]), 4)
            if e.get("warning"):
                rows[name]["warning"] = e["warning"]
        elif kind == "framework_failed":
            rows.setdefault(name, {"framework": name})
            rows[name].update(state="failed", error=e.get("error", ""))
        elif kind == "fold_finished":
            rows.setdefault(name, {"framework": name})
            rows[name]["_folds"] = rows[name].get("_folds", 0) + 1
            rows[name]["_of"] = e.get("folds", "?")
    for row in rows.values():
        if "_folds" in row:
            row["folds done"] = f"{row.pop('_folds')}/{row.pop('_of')}"
        started = row.pop("_t", None)
        if row["state"] == "running" and started:
            row["seconds"] = now - started
        elif row["state"] == "failed" and started:
            row["seconds"] = None
    return list(rows.values())


def remaining_estimate(rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> float | None:
    """Rough seconds left: the mean time of finished frameworks for each one still to come,
    and the epochs left of a running net at its pace so far."""
    done = [r["seconds"] for r in rows if r["state"] == "done" and r.get("seconds")]
    queued = sum(r["state"] == "queued" for r in rows)
    running = [r for r in rows if r["state"] == "running"]
    if not done and not running:
        return None
    mean = sum(done) / len(done) if done else None
    left = (mean or 0.0) * queued
    for r in running:
        epochs = [e for e in events if e.get("type") == "epoch"
                  and e.get("framework") == r["framework"]]
        if epochs and r.get("seconds"):
            last = epochs[-1]
            per_epoch = r["seconds"] / max(1, last["epoch"])
            left += per_epoch * max(0, last["epochs"] - last["epoch"])
        elif mean is not None:
            left += max(0.0, mean - (r.get("seconds") or 0.0))
    return left if (mean is not None or left) else None


def loss_figure(events: list[dict[str, Any]]) -> go.Figure | None:
    """Training and stopping loss per epoch of the latest net fit (framework and fold) that
    reported epochs."""
    epochs = [e for e in events if e.get("type") == "epoch"]
    if not epochs:
        return None
    net, fold = epochs[-1]["framework"], epochs[-1].get("fold")
    mine = [e for e in epochs if e["framework"] == net and e.get("fold") == fold]
    x = [e["epoch"] for e in mine]
    fig = go.Figure([go.Scatter(x=x, y=[e.get("loss") for e in mine], name="loss",
                                mode="lines+markers"),
                     go.Scatter(x=x, y=[e.get("val_loss") for e in mine],
                                name="stopping rows' loss", mode="lines+markers")])
    which = "final fit" if fold is None or fold < 0 else f"fold {fold + 1}"
    return fig.update_layout(title=f"{net}, {which}: loss per epoch ({mine[-1]['epoch']}/"
                                   f"{mine[-1]['epochs']})", height=340, template="plotly_white",
                             xaxis_title="epoch", yaxis_title="loss")


def train_body(settings: Settings, status: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Framework rows, the remaining-time estimate, and the current net's loss curves."""
    rows = framework_rows(events)
    if not rows:
        st.text("Loading and checking the data ...")
        return
    if status["state"] in common.ACTIVE_STATES:
        left = remaining_estimate(rows, events)
        st.text(f"Estimated time left: {common.seconds_text(left)} (rough estimate)")
    table = pd.DataFrame(rows)
    table["seconds"] = table["seconds"].map(lambda v: None if v is None else round(v, 2))
    st.dataframe(table, hide_index=True, key="train_progress_table")
    for row in rows:
        if row.get("warning"):
            st.warning(common.plain(f"{row['framework']} {row['warning']}: its labels carry no "
                                    "information; look at its ranking metrics (ROC AUC, "
                                    "average precision), a tuned threshold or class weights."),
                       icon=":material/warning:")
    fig = loss_figure(events)
    if fig is not None:
        common.chart(fig, "train_loss_chart")


def tune_body(settings: Settings, status: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Trials done/total, best so far, ETA and the running top 10 (read from MLflow)."""
    started = next((e for e in events if e.get("type") == "session_started"), None)
    if started is None:
        st.text("Preparing the data and the plan ...")
        return
    last = next((e for e in reversed(events) if e.get("type") == "trial_finished"), None)
    total = started.get("total") or 1
    done = last["done"] if last else started.get("skipped", 0)
    st.progress(min(1.0, done / total), text=f"{done} / {total} combinations")
    cols = st.columns(3)
    cols[0].metric("Failed", last["failed"] if last else 0)
    best = last.get("best") if last else None
    label = "cross-validated" if started.get("cv_folds") else "validation"
    cols[1].metric(f"Best so far ({label})", "-" if best is None else f"{best:.4f}")
    eta = last.get("eta_seconds") if last else None
    cols[2].metric("ETA", common.seconds_text(eta) if status["state"] == "running" else "-")
    if started.get("note"):
        st.info(common.plain(started["note"]))
    # Re-read the children at most every TOP10_EVERY_S while trials land (thousands of runs).
    stamp = ("live", int(time.time() // TOP10_EVERY_S)) if status["state"] == "running" else (
        "ended", done)
    trials = sessions.trials(started["parent_run_id"], stamp)
    metric = sessions.run_tags(started["parent_run_id"]).get("primary_metric")
    if metric:
        st.caption("Running top 10 (from MLflow)")
        st.dataframe(results.top_table(trials, metric), hide_index=True, key="tune_top_live")

