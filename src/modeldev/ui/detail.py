"""Per-model detail of a Phase 1 session: the logged model scored again on the session's split.

The model is loaded from MLflow (only models this store logged) and the split rebuilt from the
session's manifest (same data, checked by hash, same seed), so the numbers match the metrics.
Curves are drawn on the validation part, where the frameworks were compared.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from sklearn import metrics as skm

from modeldev.config import resolve_settings
from modeldev.preprocess import output_feature_names
from modeldev.split import Split, make_split
from modeldev.tuning.baseline import reload_source
from modeldev.ui import common
from modeldev.validation import prepare

TOP_FEATURES = 20


def _label(value: Any) -> str:
    """User text (class labels, column names) for a Plotly figure: entities, never markup."""
    return html.escape(str(value), quote=False)


@st.cache_resource(show_spinner="Rebuilding the session's split ...", max_entries=2)
def session_split(folder: str, stamp: float, workspace: str) -> Split:
    """The session's train/validation/test split, from its manifest and best_model_info."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    info = json.loads((Path(folder) / "best_model_info.json").read_text())
    data = prepare(reload_source(manifest).frame, info["target"], info["task"],
                   resolve_settings(workspace).limits)
    return make_split(data, int(manifest["split"]["seed"]))


@st.cache_resource(show_spinner="Loading the model from MLflow ...", max_entries=8)
def fitted_model(uri: str, workspace: str, run_id: str) -> Any:
    """The FittedModel logged by a Phase 1 framework run (None when it logged none)."""
    tracker = common._tracker(uri, workspace)
    outputs = getattr(tracker.get_run(run_id), "outputs", None)
    models = list(getattr(outputs, "model_outputs", None) or [])
    if not models:
        return None
    pyfunc = tracker.load_model(f"models:/{models[0].model_id}")
    return getattr(pyfunc.unwrap_python_model(), "fitted", None)


@st.cache_data(show_spinner="Scoring the model ...", max_entries=16)
def model_detail(uri: str, workspace: str, folder: str, stamp: float,
                 run_id: str) -> dict[str, Any] | None:
    """Validation targets, predictions, probabilities and feature importance of one model."""
    model = fitted_model(uri, workspace, run_id)
    if model is None:
        return None
    split = session_split(folder, stamp, workspace)
    out: dict[str, Any] = {"task": split.task, "classes": [str(c) for c in split.classes],
                           "y": split.y_val, "importance": importance(model)}
    if split.task == "regression":
        out["pred"] = model.predict_encoded(split.X_val)
    else:
        out["proba"] = model.predict_proba(split.X_val)
        out["pred"] = out["proba"].argmax(axis=1)
    return out


def importance(model: Any) -> tuple[list[str], list[float]] | None:
    """Native importances (trees) or mean |coefficient| (linear), by preprocessed feature."""
    core = model.core
    values = getattr(core, "feature_importances_", None)
    if values is None and getattr(core, "coef_", None) is not None:
        values = np.abs(np.atleast_2d(np.asarray(core.coef_, dtype=float))).mean(axis=0)
    if values is None:
        return None
    values = np.asarray(values, dtype=float).ravel()
    try:
        names = output_feature_names(model.preprocessor)
    except Exception:  # a transformer without names: number them
        names = []
    if len(names) != len(values):
        names = [f"feature {i}" for i in range(len(values))]
    return names, values.tolist()


def confusion_figure(d: dict[str, Any]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes."""
    labels = [_label(c) for c in d["classes"]]
    cm = skm.confusion_matrix(d["y"], d["pred"], labels=list(range(len(labels))))
    fig = go.Figure(go.Heatmap(z=cm, x=labels, y=labels, colorscale="Blues", text=cm,
                               texttemplate="%{text}", showscale=False))
    fig.update_yaxes(autorange="reversed", title_text="true", type="category")
    fig.update_xaxes(title_text="predicted", type="category")
    return fig.update_layout(title="Confusion matrix", height=420)


def curve_figure(d: dict[str, Any], kind: str) -> go.Figure:
    """ROC (kind 'roc') or precision-recall ('pr') curves: the positive class, or one per class."""
    classes, y, proba = d["classes"], np.asarray(d["y"]), np.asarray(d["proba"])
    shown = [1] if len(classes) == 2 else range(len(classes))
    fig = go.Figure()
    for k in shown:
        truth = (y == k).astype(int)
        if truth.min() == truth.max():
            continue  # a class absent from validation has no curve
        if kind == "roc":
            x, yy, _ = skm.roc_curve(truth, proba[:, k])
            score = skm.auc(x, yy)
        else:
            yy, x, _ = skm.precision_recall_curve(truth, proba[:, k])
            score = skm.average_precision_score(truth, proba[:, k])
        fig.add_trace(go.Scatter(x=x, y=yy, mode="lines",
                                 name=f"{_label(classes[k])} ({score:.3f})"))
    if kind == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                 line={"dash": "dash", "color": "#999"}))
    names = ("false positive rate", "true positive rate") if kind == "roc" else (
        "recall", "precision")
    fig.update_xaxes(title_text=names[0], range=[0, 1])
    fig.update_yaxes(title_text=names[1], range=[0, 1.02])
    title = "ROC (AUC)" if kind == "roc" else "Precision-recall (AP)"
    return fig.update_layout(title=title, height=420,
                             legend={"orientation": "h", "y": -0.25, "x": 0})


def regression_figures(d: dict[str, Any]) -> tuple[go.Figure, go.Figure]:
    """Predicted against actual (with the diagonal), and residuals against predicted."""
    y, pred = np.asarray(d["y"], float), np.asarray(d["pred"], float)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    scatter = go.Figure([go.Scatter(x=y, y=pred, mode="markers", name="rows", opacity=0.6),
                         go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect",
                                    line={"dash": "dash", "color": "#999"})])
    scatter.update_layout(title="Predicted vs actual", height=420,
                          xaxis_title="actual", yaxis_title="predicted")
    resid = go.Figure(go.Scatter(x=pred, y=y - pred, mode="markers", opacity=0.6))
    resid.add_hline(y=0, line_dash="dash", line_color="#999")
    resid.update_layout(title="Residuals (actual - predicted)", height=420,
                        xaxis_title="predicted", yaxis_title="residual")
    return scatter, resid


def importance_figure(names: list[str], values: list[float]) -> go.Figure:
    """The top features by importance, largest on top."""
    order = np.argsort(values)[::-1][:TOP_FEATURES]
    fig = go.Figure(go.Bar(x=[values[i] for i in order], y=[_label(names[i]) for i in order],
                           orientation="h"))
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    return fig.update_layout(title=f"Feature importance (top {len(order)})",
                             height=max(300, 26 * len(order) + 120))
