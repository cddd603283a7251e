"""Result views shared by Comparison and Tuning: metrics table, model detail, tuning charts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from modeldev.charts import detail as detail_charts
from modeldev.charts.common import params_label
from modeldev.charts.tuning import tuning_figures
from modeldev.config import Settings
from modeldev.errors import ModeldevError
from modeldev.evaluation.latency import BATCHES
from modeldev.evaluation.metrics import get_metric, task_metric_names
from modeldev.tracking import tags as T
from modeldev.tuning import analysis
from modeldev.ui import common, detail, sessions
from modeldev.ui import state as S


def metrics_table(rows: list[dict[str, Any]], task: str, primary: str) -> pd.DataFrame:
    """One row per model: status, top tier, the primary metric's interval, the cross-validated
    metrics, then the test metrics, then the error."""
    names = task_metric_names(task)
    records = []
    for r in rows:
        m, t = r.get("metrics") or {}, r.get("test_metrics") or {}
        spread = (r.get("cv") or {}).get(primary) or {}
        rec: dict[str, Any] = {"model": r["name"], "status": r["status"],
                               "not distinguishable from the best": bool(r.get("top_tier")),
                               f"{primary} 95% low": spread.get("ci_low"),
                               f"{primary} 95% high": spread.get("ci_high"),
                               "device": r.get("device", "")}
        rec.update({n: m.get(n) for n in names})
        rec.update({f"test_{n}": t.get(n) for n in names if n in t})
        rec["error"] = r.get("error") or ""
        records.append(rec)
    return pd.DataFrame.from_records(records)


def serving_table(rows: list[dict[str, Any]], primary: str) -> pd.DataFrame:
    """Quality beside what serving costs, one row per finished model: the primary metric
    (cross-validated and test), p50/p95 latency at batch 1 and 1,024 and the model's size."""
    records = []
    for r in rows:
        if r["status"] != "FINISHED":
            continue
        m, t = r.get("metrics") or {}, r.get("test_metrics") or {}
        rec: dict[str, Any] = {"model": r["name"], primary: m.get(primary),
                               f"test_{primary}": t.get(primary)}
        rec.update({f"{q} ms, batch {b:,}": m.get(f"latency_{q}_ms_batch{b}")
                    for b in BATCHES for q in ("p50", "p95")})
        rec["size MiB"] = m.get("model_size_mb")
        records.append(rec)
    return pd.DataFrame.from_records(records)


def tier_sentence(info: dict[str, Any], best: str | None, folds: int) -> str:
    """What the top tier says, and no more: not distinguishable is not 'as good'."""
    if not best:
        return "No framework finished."
    tier = info.get("not_distinguishable") or info.get("tied_with") or []
    where = "the same folds" if folds else "the validation rows"
    text = (f"Not distinguishable from {best} on {where}: {', '.join(tier)}. The data cannot "
            "tell them apart (the true best is in this tier 95 % of the time); that does not "
            "make them as good." if tier else
            f"Every other framework is shown not to be the best on {where}.")
    equivalent = info.get("equivalent") or []
    if equivalent:
        text += (f" Practically equivalent to {best} (within the equivalence margin, posterior "
                 f"probability >= 0.95): {', '.join(equivalent)}.")
    return text


def model_detail(session: dict[str, Any], row: dict[str, Any]) -> None:
    """Confusion matrix, ROC and PR (classification) or predicted vs actual and residuals
    (regression), and feature importance where the model has one."""
    s = common.settings()
    if not may_load(s, row):
        return
    try:
        folder = sessions.run_folder(session)
        stamp = Path(folder).stat().st_mtime
        d = detail.model_detail(s.tracking_uri, str(s.workspace), folder, stamp, row["run_id"],
                                s.access.trust_tracking_server)
    except (ModeldevError, OSError, KeyError, ValueError) as exc:
        common.error(f"Could not rebuild the detail of {row['name']}: {exc}")
        return
    if d is None:
        st.text(f"{row['name']} logged no model, so there is no detail to show.")
        return
    key = (s.tracking_uri, folder, stamp, row["run_id"])
    st.caption("On the session's test rows, which no model saw while it was fitted or chosen; "
               "labels at each model's own decision threshold.")
    views = detail_views(d)
    # One chart at a time, built and drawn only when its tab is open: five charts at once cost
    # a new tab of this page half a second of the browser's time (benchmarks/results/pages.md).
    tabs = st.tabs(list(views), key=S.CMP_DETAIL_VIEW, on_change="rerun")
    for i, (tab, (label, build)) in enumerate(zip(tabs, views.items(), strict=True)):
        if not tab.open:
            continue
        with tab:
            if build is None:
                st.text(f"{row['name']} has no native feature importance.")
            else:
                common.chart(common.figure((label, *key), build), f"detail_fig_{i}")


def detail_views(d: dict[str, Any]) -> dict[str, Callable[[], Any] | None]:
    """Tab label -> a builder of that test-set chart of the model (None: it has no importance)."""
    y, pred = d["y"], d["pred"]
    views: dict[str, Callable[[], Any] | None]
    if d["task"] == "regression":
        views = {"Predicted vs actual": lambda: detail_charts.predicted_vs_actual_figure(y, pred),
                 "Residuals": lambda: detail_charts.residuals_figure(y, pred)}
    else:
        proba, classes = d["proba"], d["classes"]
        views = {"Confusion matrix": lambda: detail_charts.confusion_figure(y, pred, classes),
                 "ROC curve": lambda: detail_charts.curve_figure(y, proba, classes, "roc"),
                 "Precision-recall": lambda: detail_charts.curve_figure(
                     y, proba, classes, "pr", d.get("threshold")),
                 "Reliability": lambda: detail_charts.reliability_figure(y, proba)}
    importance = d["importance"]
    views["Feature importance"] = ((lambda: detail_charts.importance_figure(*importance))
                                   if importance else None)
    return views


def may_load(s: Settings, row: dict[str, Any]) -> bool:
    """Whether the model of `row` may be loaded now: signed by this installation and unchanged,
    or, on a trusted server (MODELDEV_TRUST_TRACKING_SERVER=1), once the analyst has been told
    that loading it runs its code and asked for it."""
    try:
        why = detail.model_problem(s.tracking_uri, str(s.workspace), row["run_id"])
    except ModeldevError as exc:
        common.error(exc)
        return False
    if why is None:
        return True
    name = row["name"]
    if not s.access.trust_tracking_server:
        common.error(f"The model of {name} is not loaded: {why}, and loading it would run its "
                     "code; set MODELDEV_TRUST_TRACKING_SERVER=1 to load models this "
                     "installation did not sign.")
        return False
    st.warning(common.plain(f"The model of {name} was not signed by this installation: {why}. "
                            "Loading it runs its code as this app's user; this tracking server "
                            "is trusted (MODELDEV_TRUST_TRACKING_SERVER=1), so you may."),
               icon=":material/warning:")
    accepted = st.session_state.setdefault(S.TRUSTED_MODELS, set())
    if row["run_id"] not in accepted and st.button(
            f"Load the model of {name}", key=f"{S.TRUST_PREFIX}{row['run_id']}"):
        accepted.add(row["run_id"])
    return row["run_id"] in accepted


@st.cache_data(show_spinner=False, max_entries=32)
def _phase1_metrics(uri: str, workspace: str, phase1_run_id: str) -> dict[str, dict[str, float]]:
    runs = common.cached_tracker(uri, workspace).child_runs(phase1_run_id)
    return {r.tags.get(T.FRAMEWORK, ""): dict(r.metrics) for r in runs}


def baseline_value(parent: dict[str, Any], metric: str) -> float | None:
    """The tuned framework's Phase 1 value, cross-validated or on validation as the trials' (the
    baseline line of the top-10 chart)."""
    phase1 = parent["tags"].get(T.PHASE1_RUN_ID)
    if not phase1:
        return None
    s = common.settings()
    try:
        found = _phase1_metrics(s.tracking_uri, str(s.workspace), phase1)
    except ModeldevError:
        return None
    return found.get(parent["tags"].get(T.FRAMEWORK, ""), {}).get(metric)


def tuning_results(parent: dict[str, Any]) -> None:
    """Improvement, top 10 and parameter impact of a tuning parent, drawn from MLflow."""
    tags, metrics = parent["tags"], parent["metrics"]
    metric = tags.get(T.PRIMARY_METRIC, "")
    trials = sessions.trials(parent["run_id"], (parent["status"], parent["end"]))
    if not trials:
        st.text("This tuning run has no finished trials yet.")
        return
    done = analysis.finished_trials(trials, metric)
    cols = st.columns(4)
    cols[0].metric("Trials", f"{len(done)} / {len(trials)} finished")
    best = analysis.best_trial(trials, metric)
    if best:
        cols[1].metric(f"Best cross-validated {metric}", f"{best['metrics'][metric]:.4f}",
                       help=_interval_text(best["metrics"], metric))
    if metrics.get(f"test_{metric}") is not None:
        cols[2].metric(f"Tuned test {metric}", f"{metrics[f'test_{metric}']:.4f}")
    gain = metrics.get("improvement_pct")
    cols[3].metric("Improvement over baseline (test)", "-" if gain is None else f"{gain:+.2f} %",
                   help=f"direction-aware: {get_metric(metric).direction} is better; 95 % "
                        f"interval {_pct(metrics.get('improvement_ci_low'))} to "
                        f"{_pct(metrics.get('improvement_ci_high'))}")
    verdict_box(tags, metrics)
    if best:
        st.text("Best parameters: " + params_label(best["params"], 10_000))
    params = sorted({k for t in trials for k in (t.get("params") or {})})
    base = baseline_value(parent, metric)
    fold_rows = _fold_rows(tags)
    key = (parent["run_id"], parent["status"], parent["end"], len(trials), metric)
    top, impact = common.figure(("tuning", *key, base, tuple(params), fold_rows),
                                lambda: tuning_figures(trials, params, metric, base, fold_rows))
    common.chart(top, "tune_topk")
    common.chart(impact, "tune_impact")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} %"


def _interval_text(metrics: dict[str, float], metric: str) -> str:
    low, high = metrics.get(f"{metric}_ci_low"), metrics.get(f"{metric}_ci_high")
    if low is None or high is None:
        return "one holdout split: no interval across folds"
    return f"mean over the folds; 95 % interval {low:.4f} to {high:.4f}"


def _fold_rows(tags: dict[str, str]) -> tuple[int, int] | None:
    """A fold's (training, validation) rows from the parent's tag; None for holdout runs."""
    parts = tags.get(T.FOLD_ROWS, "").split(",")
    if tags.get(T.CV_FOLDS, "0") in ("", "0") or len(parts) != 2:
        return None
    return int(parts[0]), int(parts[1])


def verdict_box(tags: dict[str, str], metrics: dict[str, float]) -> None:
    """The tuning's verdict and which model goes forward, in one plain sentence."""
    said, carried = tags.get(T.VERDICT), tags.get(T.CARRIED_FORWARD)
    if not said:
        return
    folds = tags.get(T.CV_FOLDS, "0")
    repeats = tags.get(T.CV_REPEATS, "1") or "1"
    where = (f"the same {repeats + ' x ' if repeats != '1' else ''}{folds} folds"
             if folds not in ("", "0") else "the validation rows")
    p, n = metrics.get("verdict_p_value"), metrics.get("verdict_n_compared")
    words = {"better": "better than", "worse": "worse than",
             "no_difference": "not distinguishable from"}[said]
    paid = f", after choosing the best of {n:.0f}" if n else ""
    text = (f"Verdict: the tuned model is {words} the baseline on {where}{paid}"
            f"{'' if p is None else f' (p = {p:.3g})'}. Carried forward: the {carried} model "
            "(decided on the development rows; the test figures only report).")
    box = st.success if carried == "tuned" else st.warning if said == "worse" else st.info
    box(text, icon=":material/gavel:")


def top_table(trials: list[dict[str, Any]], metric: str, k: int = 10) -> pd.DataFrame:
    """The running top k as a table: rank, value, parameters."""
    return pd.DataFrame([{"rank": i + 1, metric: t["metrics"][metric],
                          "parameters": params_label(t["params"], 10_000)}
                         for i, t in enumerate(analysis.top_k(trials, metric, k))])
