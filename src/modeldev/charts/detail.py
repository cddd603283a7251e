"""Per-model detail figures: confusion matrix, ROC and PR curves, regression scatter and residuals,
feature importance. User text (class labels, column names) is escaped, never read as markup."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from modeldev.evaluation.curves import class_curves, confusion, operating_point, reliability

TOP_FEATURES = 20
NAME_CHARS = 40  # a feature name's characters on the importance chart's axis
TEMPLATE = "plotly_white"  # as every modeldev chart: the app draws figures with their own look


def _label(value: Any) -> str:
    """User text for a Plotly figure: entities, never markup."""
    return html.escape(str(value), quote=False)


def confusion_figure(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes."""
    labels = [_label(c) for c in classes]
    cm = confusion(y, pred, len(labels))
    fig = go.Figure(go.Heatmap(z=cm, x=labels, y=labels, colorscale="Blues", text=cm,
                               texttemplate="%{text}", showscale=False))
    fig.update_yaxes(autorange="reversed", title_text="true", type="category")
    fig.update_xaxes(title_text="predicted", type="category")
    return fig.update_layout(title="Confusion matrix", height=420, template=TEMPLATE)


def curve_figure(y: np.ndarray, proba: np.ndarray, classes: list[str], kind: str,
                 threshold: float | None = None) -> go.Figure:
    """ROC (kind 'roc') or precision-recall ('pr') curves: the positive class, or one per class;
    on a binary PR curve, the point the model's decision threshold operates at."""
    fig = go.Figure()
    for curve in class_curves(y, proba, kind):
        fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines",
                                 name=f"{_label(classes[curve.label])} ({curve.score:.3f})"))
    if kind == "pr" and proba.shape[1] == 2:
        cut = 0.5 if threshold is None else threshold
        recall, precision = operating_point(y, proba[:, 1], cut)
        fig.add_trace(go.Scatter(x=[recall], y=[precision], mode="markers",
                                 name=f"decision threshold {cut:.3g}",
                                 marker={"size": 12, "symbol": "x", "color": "#d62728"}))
    if kind == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                 line={"dash": "dash", "color": "#999"}))
    names = ("false positive rate", "true positive rate") if kind == "roc" else (
        "recall", "precision")
    fig.update_xaxes(title_text=names[0], range=[0, 1])
    fig.update_yaxes(title_text=names[1], range=[0, 1.02])
    title = "ROC (AUC)" if kind == "roc" else "Precision-recall (AP)"
    # The legend sits in the corner the curves leave empty (ROC: bottom right; PR: bottom
    # left): one below the plot made the browser measure and lay the chart out twice.
    corner = {"x": 0.98, "xanchor": "right"} if kind == "roc" else {"x": 0.02, "xanchor": "left"}
    return fig.update_layout(title=title, height=420, template=TEMPLATE,
                             legend={**corner, "y": 0.02, "yanchor": "bottom",
                                     "bgcolor": "rgba(255,255,255,0.7)"})


def reliability_figure(y: np.ndarray, proba: np.ndarray) -> go.Figure:
    """Mean predicted probability against observed frequency per bin, with the diagonal of
    perfect calibration."""
    mean_p, freq, counts = reliability(y, proba)
    binary = np.asarray(proba).shape[1] == 2
    fig = go.Figure([
        go.Scatter(x=mean_p, y=freq, mode="lines+markers", name="model",
                   customdata=counts, hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}"
                                                    "<br>%{customdata} rows<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                   line={"dash": "dash", "color": "#999"})])
    fig.update_xaxes(title_text="mean predicted probability" if binary else "confidence",
                     range=[0, 1])
    fig.update_yaxes(title_text="observed frequency" if binary else "accuracy", range=[0, 1.02])
    return fig.update_layout(title="Reliability", height=420,
                             legend={"orientation": "h", "y": -0.25, "x": 0})


def regression_figures(y: np.ndarray, pred: np.ndarray) -> tuple[go.Figure, go.Figure]:
    """Predicted against actual, and residuals against predicted."""
    return predicted_vs_actual_figure(y, pred), residuals_figure(y, pred)


def predicted_vs_actual_figure(y: np.ndarray, pred: np.ndarray) -> go.Figure:
    """Predicted against actual, with the diagonal."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    scatter = go.Figure([go.Scatter(x=y, y=pred, mode="markers", name="rows", opacity=0.6),
                         go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect",
                                    line={"dash": "dash", "color": "#999"})])
    return scatter.update_layout(title="Predicted vs actual", height=420, template=TEMPLATE,
                                 xaxis_title="actual", yaxis_title="predicted")


def residuals_figure(y: np.ndarray, pred: np.ndarray) -> go.Figure:
    """Residuals (actual - predicted) against predicted, with the zero line."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    resid = go.Figure(go.Scatter(x=pred, y=y - pred, mode="markers", opacity=0.6))
    resid.add_hline(y=0, line_dash="dash", line_color="#999")
    return resid.update_layout(title="Residuals (actual - predicted)", height=420,
                               template=TEMPLATE, xaxis_title="predicted", yaxis_title="residual")


def importance_figure(names: list[str], values: list[float]) -> go.Figure:
    """The top features by importance, largest on top (a name past NAME_CHARS is cut on the
    axis, whole in the hover)."""
    order = np.argsort(values)[::-1][:TOP_FEATURES]
    shown = [_short(str(names[i])) for i in order]
    fig = go.Figure(go.Bar(x=[values[i] for i in order], y=[_label(s) for s in shown],
                           orientation="h", customdata=[_label(names[i]) for i in order],
                           hovertemplate="%{customdata}: %{x:.4g}<extra></extra>"))
    # A left margin for the longest name (about 7 px a character), not measured in the
    # browser (automargin): that doubled the drawing time of the chart.
    fig.update_yaxes(autorange="reversed", type="category", automargin=False)
    return fig.update_layout(title=f"Feature importance (top {len(order)})",
                             height=max(300, 26 * len(order) + 120), template=TEMPLATE,
                             margin={"l": 7 * max((len(s) for s in shown), default=4) + 20})


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"
