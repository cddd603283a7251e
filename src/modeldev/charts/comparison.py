"""The Phase 1 comparison: one bar panel per charted metric, one bar per model."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modeldev.charts.common import (
    BASE_COLOR,
    BEST_COLOR,
    TIER_COLOR,
    WHISKER_COLOR,
    direction_text,
    fmt,
    number,
)
from modeldev.evaluation.metrics import charted_metrics


def comparison_figure(
    rows: list[dict], task: str, primary_metric: str, best_name: str | None
) -> go.Figure:
    """One bar panel per charted metric of `task`, one bar per model: the cross-validated mean
    with its 95 % interval as a whisker, the best highlighted, the models not distinguishable
    from it (the top tier) lighter."""
    metrics = charted_metrics(task)
    ncols = 4
    nrows = math.ceil(len(metrics) / ncols)
    columns = [_metric_column(rows, m) for m in metrics]
    titles = [_panel_title(m, primary_metric, bool(col[0]))
              for m, col in zip(metrics, columns, strict=True)]
    fig = make_subplots(
        rows=nrows, cols=ncols, subplot_titles=titles,
        vertical_spacing=0.3, horizontal_spacing=0.06,
    )
    tied = {str(r.get("name")) for r in rows if r.get("top_tier")} - {best_name}
    for i, (metric, (names, values, low, high)) in enumerate(zip(metrics, columns, strict=True)):
        bar = go.Bar(
            x=names, y=values, name=metric, showlegend=False,
            marker_color=[_color(n, best_name, tied) for n in names],
            text=[fmt(v) for v in values], textposition="outside", cliponaxis=False,
            hovertemplate="%{x}<br>" + metric + ": %{y:.6g}<extra></extra>",
            error_y=_whiskers(values, low, high),
        )
        fig.add_trace(bar, row=i // ncols + 1, col=i % ncols + 1)
    fig.update_xaxes(type="category", tickangle=-40)
    fig.update_layout(
        title=f"Model comparison, {len(rows)} models; "
              f"{_headline(best_name, primary_metric, tied)}",
        width=1600, height=900, margin={"t": 110, "b": 60}, template="plotly_white",
    )
    return fig


def _color(name: str, best: str | None, tied: set[str]) -> str:
    return BEST_COLOR if name == best else TIER_COLOR if name in tied else BASE_COLOR


def _headline(best: str | None, primary: str, tied: set[str]) -> str:
    if not best:
        return "no best model"
    text = f"best: {best} by {primary} (highlighted); whiskers: 95 % intervals"
    if tied:  # on a second line: a long list would run past the chart's width
        text += f"<br><sup>not distinguishable from it (lighter): {', '.join(sorted(tied))}</sup>"
    return text


def _whiskers(values: list[float], low: list[float | None],
              high: list[float | None]) -> dict[str, object] | None:
    if all(lo is None for lo in low):
        return None
    return {"type": "data", "symmetric": False, "color": WHISKER_COLOR, "thickness": 1.5,
            "array": [0.0 if h is None else max(0.0, h - v) for v, h in zip(values, high,
                                                                          strict=True)],
            "arrayminus": [0.0 if lo is None else max(0.0, v - lo) for v, lo in zip(
                values, low, strict=True)]}


def _metric_column(rows: list[dict],
                   metric: str) -> tuple[list[str], list[float], list[float | None],
                                         list[float | None]]:
    names, values, low, high = [], [], [], []
    for row in rows:
        value = number((row.get("metrics") or {}).get(metric))
        if value is not None:
            spread = (row.get("cv") or {}).get(metric) or {}
            names.append(str(row.get("name")))
            values.append(value)
            low.append(number(spread.get("ci_low")))
            high.append(number(spread.get("ci_high")))
    return names, values, low, high


def _panel_title(metric: str, primary_metric: str, has_values: bool) -> str:
    title = f"{metric} ({direction_text(metric)})"
    if metric == primary_metric:
        title = "\u2605 " + title
    return title if has_values else title + ", no values"
