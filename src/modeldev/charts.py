"""Plotly figure builders (pure) and their export to HTML and PNG.

PNG export goes through `figure_to_png` (matplotlib, no browser): kaleido 1.x needs Chrome.
HTML embeds plotly.js in full (~4.8 MB a file) so a chart opens offline, from a bundle or from
MLflow's artifact view, with nothing beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modeldev.artifacts import atomic_write_text
from modeldev.chart_png import figure_to_png
from modeldev.metrics import charted_metrics, get_metric

__all__ = [
    "comparison_figure",
    "figure_to_png",
    "parameter_impact_figure",
    "save_figure",
    "top_k_figure",
]

BASE_COLOR = "#4C78A8"
BEST_COLOR = "#F58518"
MEAN_COLOR = "#222222"
# Past this many trials the impact chart shows quartile boxes instead of one point per trial:
# 1,008 trials as 3,024 SVG points took the browser about 0.9 s to draw (measured).
STRIP_MAX_TRIALS = 200
_NONE_WORDS = {"", "none", "null", "nan"}


def direction_text(metric: str) -> str:
    """'higher is better' or 'lower is better' for a registered metric."""
    return "higher is better" if get_metric(metric).higher_is_better else "lower is better"


def _number(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN and inf values."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


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
            text=[_fmt(v) for v in values], textposition="outside", cliponaxis=False,
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
        value = _number((row.get("metrics") or {}).get(metric))
        if value is not None:
            names.append(str(row.get("name")))
            values.append(value)
    return names, values


def _panel_title(metric: str, primary_metric: str, has_values: bool) -> str:
    title = f"{metric} ({direction_text(metric)})"
    if metric == primary_metric:
        title = "\u2605 " + title
    return title if has_values else title + ", no values"


def value_label(value: Any) -> str:
    """How a parameter value is shown: null and 'None'-like strings as 'None', 100.0 as '100'."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        return "None"
    if isinstance(value, float):
        return "None" if math.isnan(value) else f"{value:g}"
    return str(value)


def _label_order(label: str) -> tuple:
    """Numbers (numeric strings too, as MLflow returns params) by value, then text, None last."""
    if label == "None":
        return (2, 0.0, label)
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def finished(results: Iterable[dict], metric: str) -> list[tuple[dict, float]]:
    """(trial, metric value) for trials with status FINISHED and a finite value of `metric`."""
    out = []
    for trial in results:
        value = _number((trial.get("metrics") or {}).get(metric))
        if str(trial.get("status", "")).upper() == "FINISHED" and value is not None:
            out.append((trial, value))
    return out


def parameter_impact_figure(results: list[dict], params: list[str], metric: str) -> go.Figure:
    """Per parameter, `metric` across its values: each finished trial (quartile boxes past
    STRIP_MAX_TRIALS), and the mean with min–max."""
    trials = finished(results, metric)
    title = (
        f"Parameter impact on {metric} ({direction_text(metric)}), {len(trials)} finished trials"
    )
    if not params:
        fig = go.Figure()
        fig.add_annotation(text="No parameters to show", x=0.5, y=0.5, xref="paper",
                           yref="paper", showarrow=False)
        return fig.update_layout(title=title, width=800, height=400, template="plotly_white")
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    specs = [[{} if r * ncols + c < len(params) else None for c in range(ncols)]
             for r in range(nrows)]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=list(params), specs=specs,
                        vertical_spacing=0.5 / nrows, horizontal_spacing=0.08)
    for i, param in enumerate(params):
        for trace in _impact_traces(trials, param, first=i == 0):
            fig.add_trace(trace, row=i // ncols + 1, col=i % ncols + 1)
        order = sorted({value_label(t.get("params", {}).get(param)) for t, _ in trials},
                       key=_label_order)
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=order,
                         row=i // ncols + 1, col=i % ncols + 1)
    fig.update_yaxes(title_text=metric, col=1)
    return fig.update_layout(title=title, width=max(700, 430 * ncols + 100),
                             height=330 * nrows + 130, template="plotly_white")


def _impact_traces(trials: list[tuple[dict, float]], param: str,
                   first: bool) -> list[go.Scatter | go.Box]:
    groups: dict[str, list[float]] = {}
    for trial, value in trials:
        groups.setdefault(value_label(trial.get("params", {}).get(param)), []).append(value)
    labels = sorted(groups, key=_label_order)
    means = [sum(groups[g]) / len(groups[g]) for g in labels]
    xs, ys = [g for g in labels for _ in groups[g]], [v for g in labels for v in groups[g]]
    if len(trials) > STRIP_MAX_TRIALS:
        strip: go.Scatter | go.Box = go.Box(
            x=xs, y=ys, name="trials (quartiles)", legendgroup="trials", showlegend=first,
            boxpoints=False, marker={"color": BASE_COLOR}, line={"width": 1.5})
    else:
        strip = go.Scatter(
            x=xs, y=ys, mode="markers", name="trials", legendgroup="trials", showlegend=first,
            marker={"color": BASE_COLOR, "opacity": 0.4, "size": 6})
    mean = go.Scatter(
        x=labels, y=means, mode="lines+markers", name="mean (min–max)", legendgroup="mean",
        showlegend=first, line={"color": MEAN_COLOR}, marker={"color": MEAN_COLOR, "size": 8},
        error_y={"type": "data", "symmetric": False,
                 # max(0, .): a float mean can round a hair past its group's max or min
                 "array": [max(0.0, max(groups[g]) - m) for g, m in zip(labels, means,
                                                                        strict=True)],
                 "arrayminus": [max(0.0, m - min(groups[g])) for g, m in zip(labels, means,
                                                                             strict=True)]},
    )
    return [strip, mean]


def params_label(params: dict, max_len: int = 70) -> str:
    """A short one-line 'name=value, ...' string, cut with an ellipsis past `max_len`."""
    text = ", ".join(f"{k}={value_label(v)}" for k, v in (params or {}).items())
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def top_k_figure(
    results: list[dict], metric: str, k: int = 10, baseline: float | None = None
) -> go.Figure:
    """Horizontal bars of the `k` best finished trials by `metric`, with the baseline as a line."""
    ranked = sorted(finished(results, metric), key=lambda tv: tv[1],
                    reverse=get_metric(metric).higher_is_better)
    top = ranked[: max(k, 0)]
    values = [v for _, v in top]
    labels = [f"#{i + 1}  {params_label(t.get('params', {}))}" for i, (t, _) in enumerate(top)]
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", name=metric, showlegend=False,
        marker_color=[BEST_COLOR] + [BASE_COLOR] * (len(top) - 1) if top else [],
        text=[_fmt(v) for v in values], textposition="outside", cliponaxis=False,
        customdata=[params_label(t.get("params", {}), 10_000) for t, _ in top],
        hovertemplate="%{customdata}<br>" + metric + ": %{x:.6g}<extra></extra>",
    ))
    baseline = _number(baseline)
    if baseline is not None:
        fig.add_vline(x=baseline, line_dash="dash", line_color="#444444", name="baseline",
                      annotation_text=f"baseline {_fmt(baseline)}", annotation_position="top")
    x_range = _zoom_range([*values, *([baseline] if baseline is not None else [])])
    fig.update_xaxes(title_text=f"{metric} ({direction_text(metric)})", range=x_range)
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    return fig.update_layout(
        title=f"Top {len(top)} of {len(ranked)} finished trials by {metric}",
        width=1100, height=max(400, 140 + 40 * len(top)), template="plotly_white",
    )


def _zoom_range(values: list[float]) -> list[float] | None:
    """An x range around the values, so close scores stay distinguishable; 0 kept if near."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
    start = lo - pad
    if lo >= 0 > start:
        start = 0.0
    return [start, hi + 2 * pad]


def save_figure(fig: go.Figure, stem: Path) -> list[Path]:
    """Write `stem`.html (plotly.js embedded) and `stem`.png (no browser); return both paths."""
    stem = Path(stem)
    html = atomic_write_text(
        stem.with_name(stem.name + ".html"),
        fig.to_html(include_plotlyjs=True, full_html=True),
    )
    png = figure_to_png(fig, stem.with_name(stem.name + ".png"))
    return [html, png]
