"""How the PNG renderer draws each Plotly trace kind on a matplotlib axis."""

from __future__ import annotations

import math
import re
from typing import Any

from matplotlib.axes import Axes
from matplotlib.colors import is_color_like

DRAWERS: dict[str, Any] = {}  # trace type -> drawing function, filled below
_RGB = re.compile(r"rgba?\(([^)]*)\)")


def position(value: Any, cats: dict[str, int] | None) -> float | None:
    """Where a value sits on an axis: its category index, or the number itself."""
    if cats is not None:
        return cats.get(str(value))
    return finite(value)


def finite(value: Any) -> float | None:
    """A finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def to_color(value: Any, default: str = "#4C78A8") -> Any:
    """A matplotlib colour from a Plotly one ('#hex', CSS name, 'rgb(...)', 'rgba(...)')."""
    if isinstance(value, str):
        match = _RGB.fullmatch(value.replace(" ", ""))
        if match:
            parts = [float(p) for p in match.group(1).split(",")]
            return tuple(p / 255 for p in parts[:3]) + tuple(parts[3:4])
        if is_color_like(value):
            return value
    return default


def per_point_colors(value: Any, n: int, default: str = "#4C78A8") -> list:
    """One colour per point, from a single colour or a list."""
    if isinstance(value, list | tuple):
        return [to_color(v, default) for v in value] + [default] * (n - len(value))
    return [to_color(value, default)] * n


def label(trace: Any) -> str:
    """The legend label of a trace (None when it hides its legend)."""
    return trace.name if trace.name and trace.showlegend is not False else "_nolegend_"


def draw_bar(ax: Axes, trace: Any, xcats: Any, ycats: Any) -> None:
    """Draw a bar trace (vertical or horizontal) with its value labels."""
    horizontal = trace.orientation == "h"
    cats, values = (trace.y, trace.x) if horizontal else (trace.x, trace.y)
    values = list(values or [])
    cats = list(cats) if cats is not None else list(range(len(values)))
    colors = per_point_colors(trace.marker.color, len(values))
    texts = list(trace.text) if isinstance(trace.text, list | tuple) else [None] * len(values)
    points = [
        (p, v, c, t)
        for cat, val, c, t in zip(cats, values, colors, texts, strict=False)
        if (p := position(cat, ycats if horizontal else xcats)) is not None
        and (v := finite(val)) is not None
    ]
    if not points:
        return
    pos, vals, cols, labels = (list(col) for col in zip(*points, strict=True))
    draw = ax.barh if horizontal else ax.bar
    bars = draw(pos, vals, color=cols, label=label(trace))
    _bar_whiskers(ax, trace, cats, values, horizontal, xcats)
    if horizontal:  # room for the value labels
        ax.margins(x=0.12)
    else:
        ax.margins(y=0.12)
    if any(label is not None for label in labels):
        ax.bar_label(bars, labels=[str(t or "") for t in labels], fontsize=8, padding=2)


def _bar_whiskers(ax: Axes, trace: Any, cats: list, values: list, horizontal: bool,
                  axis_cats: Any) -> None:
    """The bars' asymmetric error bars (error_y: arrayminus below, array above)."""
    err = trace.error_y
    if horizontal or not err or err.array is None:
        return
    plus, minus = list(err.array), list(err.arrayminus if err.arrayminus is not None
                                        else err.array)
    rows = [(p, v, minus[i], plus[i]) for i, (cat, val) in enumerate(zip(cats, values,
                                                                          strict=False))
            if (p := position(cat, axis_cats)) is not None and (v := finite(val)) is not None
            and i < len(plus)]
    if rows:
        xs, ys, lo, hi = (list(col) for col in zip(*rows, strict=True))
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor=to_color(err.color, "#333333"),
                    elinewidth=1.2, capsize=3, label="_nolegend_")


def draw_scatter(ax: Axes, trace: Any, xcats: Any, ycats: Any) -> None:
    """Draw a scatter trace: markers and/or lines, with asymmetric error bars."""
    ys = list(trace.y or [])
    xs = list(trace.x) if trace.x is not None else list(range(len(ys)))
    err = trace.error_y
    plus = list(err.array) if err and err.array is not None else None
    minus = list(err.arrayminus) if err and err.arrayminus is not None else plus
    rows = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=False)):
        px, py = position(x, xcats), position(y, ycats)
        if px is not None and py is not None:
            rows.append((px, py, (minus or [0] * len(ys))[i], (plus or [0] * len(ys))[i]))
    if not rows:
        return
    xs_drawn, ys_drawn, lo, hi = (list(col) for col in zip(*rows, strict=True))
    mode = trace.mode or "lines+markers"
    color = to_color(trace.marker.color or trace.line.color)
    alpha = trace.marker.opacity if trace.marker.opacity is not None else trace.opacity
    ax.errorbar(
        xs_drawn, ys_drawn, yerr=[lo, hi] if plus is not None else None, color=color, alpha=alpha,
        linestyle="-" if "lines" in mode else "none", marker="o" if "markers" in mode else None,
        markersize=(trace.marker.size or 6) * 0.8, capsize=3, label=label(trace),
    )


def draw_box(ax: Axes, trace: Any, xcats: Any, ycats: Any) -> None:
    """Draw a box trace: one quartile box per category."""
    horizontal = trace.orientation == "h"
    values = list((trace.x if horizontal else trace.y) or [])
    groups_from = coords(trace, "y" if horizontal else "x")
    if len(groups_from) != len(values):
        groups_from = groups_from[:1] * len(values)
    groups: dict[float, list[float]] = {}
    for cat, val in zip(groups_from, values, strict=False):
        pos, number = position(cat, ycats if horizontal else xcats), finite(val)
        if pos is not None and number is not None:
            groups.setdefault(pos, []).append(number)
    if groups:
        color = to_color(trace.marker.color or trace.line.color)
        lines = {"color": color, "linewidth": 1.5}
        ax.boxplot(list(groups.values()), positions=list(groups), widths=0.5,
                   orientation="horizontal" if horizontal else "vertical", patch_artist=True,
                   boxprops={"facecolor": "none", "edgecolor": color, "linewidth": 1.5},
                   whiskerprops=lines, capprops=lines, medianprops=lines,
                   flierprops={"markeredgecolor": color})


def coords(trace: Any, letter: str) -> list:
    """The x or y values of a trace as a list (empty when it has none)."""
    values = getattr(trace, letter, None)
    if values is None and trace.type == "box":
        box_axis = "y" if getattr(trace, "orientation", None) == "h" else "x"
        return [trace.name or "trace"] if letter == box_axis else []
    return list(values) if values is not None else []


DRAWERS.update(bar=draw_bar, scatter=draw_scatter, box=draw_box)
