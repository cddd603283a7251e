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

# A small title line of this many characters is about 600 px wide: it fits the app's narrowest
# chart (a 1,024 px window with the sidebar open) as well as the 1,600 px PNG.
SUP_LINE_CHARS = 90
SUP_LINE_PX = 18


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
    # Margins are set, not measured (automargin): measuring the tilted names made the browser
    # lay the 8 panels out again and again, 4x the drawing time of the figure at 820 px.
    fig.update_xaxes(type="category", tickangle=-40, automargin=False)
    fig.update_yaxes(automargin=False)
    longest = max((len(str(r.get("name"))) for r in rows), default=10)
    whiskers = any(lo is not None for col in columns for lo in col[2])
    head, notes = _headline(best_name, primary_metric, tied, whiskers)
    fig.update_layout(
        title=f"Model comparison, {len(rows)} models; {head}"
              + "".join(f"<br><sup>{line}</sup>" for line in notes),
        width=1600, height=900 + SUP_LINE_PX * len(notes),
        margin={"t": 90 + SUP_LINE_PX * len(notes), **_names_margins(longest)},
        template="plotly_white",
    )
    return fig


def _names_margins(chars: int) -> dict[str, int]:
    """Bottom and left margins for model names of `chars` characters tilted by 40 degrees
    (12 px text: about 7 px a character; down sin 40 = 0.64, left cos 40 = 0.77 of it)."""
    return {"b": max(60, round(chars * 7 * 0.64 + 24)), "l": max(50, round(chars * 7 * 0.77 - 20))}


def _color(name: str, best: str | None, tied: set[str]) -> str:
    return BEST_COLOR if name == best else TIER_COLOR if name in tied else BASE_COLOR


def _headline(best: str | None, primary: str, tied: set[str],
              whiskers: bool) -> tuple[str, list[str]]:
    """The title's first line and its small lines below: the top tier is a list of any length,
    so it is wrapped at SUP_LINE_CHARS instead of running past the chart's edge."""
    if not best:
        return "no best model", []
    notes = ["whiskers: 95 % intervals"] if whiskers else []
    if tied:
        notes.append("not distinguishable from it (lighter): " + ", ".join(sorted(tied)))
    return f"best: {best} by {primary} (highlighted)", _wrap("; ".join(notes), SUP_LINE_CHARS)


def _wrap(text: str, width: int) -> list[str]:
    """`text` cut at spaces into lines of at most `width` characters (a longer word alone)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


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
    """'metric', then its direction on a small second line: four titles side by side fit an
    820 px column (the app beside its sidebar) without running into each other."""
    title = ("\u2605 " if metric == primary_metric else "") + metric
    return f"{title}<br><sup>{direction_text(metric)}{'' if has_values else ', no values'}</sup>"
