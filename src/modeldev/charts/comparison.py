"""The Phase 1 comparison: one bar panel per charted metric, one bar per model."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modeldev.charts.common import BASE_COLOR, BEST_COLOR, direction_text, fmt, number
from modeldev.evaluation.metrics import charted_metrics


def comparison_figure(
    rows: list[dict], task: str, primary_metric: str, best_name: str | None
) -> go.Figure:
    """One bar panel per charted metric of `task`, one bar per model, the best one highlighted."""
    metrics = charted_metrics(task)
    ncols = 4
    nrows = math.ceil(len(metrics) / ncols)
    columns = [_metric_column(rows, m) for m in metrics]
    titles = [
        _panel_title(m, primary_metric, bool(names))
        for m, (names, _) in zip(metrics, columns, strict=True)
    ]
    fig = make_subplots(
        rows=nrows, cols=ncols, subplot_titles=titles,
        vertical_spacing=0.3, horizontal_spacing=0.06,
    )
    for i, (metric, (names, values)) in enumerate(zip(metrics, columns, strict=True)):
        bar = go.Bar(
            x=names, y=values, name=metric, showlegend=False,
            marker_color=[BEST_COLOR if n == best_name else BASE_COLOR for n in names],
            text=[fmt(v) for v in values], textposition="outside", cliponaxis=False,
            hovertemplate="%{x}<br>" + metric + ": %{y:.6g}<extra></extra>",
        )
        fig.add_trace(bar, row=i // ncols + 1, col=i % ncols + 1)
    fig.update_xaxes(type="category", tickangle=-40)
    best = f"best: {best_name} by {primary_metric} (highlighted)" if best_name else "no best model"
    fig.update_layout(
        title=f"Model comparison, {len(rows)} models; {best}",
        width=1600, height=900, margin={"t": 110, "b": 60}, template="plotly_white",
    )
    return fig


def _metric_column(rows: list[dict], metric: str) -> tuple[list[str], list[float]]:
    names, values = [], []
    for row in rows:
        value = number((row.get("metrics") or {}).get(metric))
        if value is not None:
            names.append(str(row.get("name")))
            values.append(value)
    return names, values


def _panel_title(metric: str, primary_metric: str, has_values: bool) -> str:
    title = f"{metric} ({direction_text(metric)})"
    if metric == primary_metric:
        title = "\u2605 " + title
    return title if has_values else title + ", no values"
