"""Inline SVG charts for the dashboard: drawn on the server, readable with JavaScript off.

Every label is data (team and resource names), so every piece of text is escaped here;
the result is marked safe for the templates.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup

_MAX_POINTS = 2000
"""A line chart draws at most this many points (longer series are thinned evenly)."""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(label: str, limit: int = 42) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(width: int, height: int, label: str, body: list[str], css: str) -> Markup:
    return Markup(
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(label)}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_esc(label)}</title>'
        + "".join(body)
        + "</svg>"
    )


def team_bars(
    teams: Sequence[tuple[str, float, float]],
    money: Callable[[float], str],
    label: str = "Money per team",
) -> Markup:
    """Draw one horizontal bar per team: its total cost, the part to delete darker.

    ``teams`` holds (team, total, to delete); ``money`` writes an amount (with its
    currency). Widths are percentages (no
    viewBox), so that the text keeps its size on a phone and the bars stretch.
    """
    row = 46
    height = max(row * len(teams), row) + 4
    top = max((total for _, total, _ in teams), default=0.0) or 1.0
    body: list[str] = []
    for i, (team, total, deleted) in enumerate(teams):
        y = 2 + i * row
        bar = 100 * total / top
        cut = 100 * min(deleted, total) / top
        body.append(
            f'<g class="bar"><title>{_esc(team)}: {_esc(money(total))}'
            f" ({_esc(money(deleted))} to delete)</title>"
            f'<text x="0" y="{y + 14}" class="label">{_esc(_short(team, 30))}</text>'
            f'<text x="100%" y="{y + 14}" text-anchor="end" class="value">'
            f"{_esc(money(total))}</text>"
            f'<rect x="0" y="{y + 21}" width="{bar:.2f}%" height="16" rx="3" class="total"/>'
            f'<rect x="0" y="{y + 21}" width="{cut:.2f}%" height="16" rx="3" class="deleted"/>'
            "</g>"
        )
    if not teams:
        body.append('<text x="0" y="28" class="label">no data yet</text>')
    return Markup(
        f'<svg class="chart team-bars" width="100%" height="{height}" style="height:{height}px" '
        'role="img" '
        f'aria-label="{_esc(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_esc(label)}</title>" + "".join(body) + "</svg>"
    )


def histogram(frequencies: Sequence[int], label: str) -> Markup:
    """Draw observations per rounded usage 0, 10, …, 100 as vertical bars."""
    width, height, left, bottom, top_pad = 440, 200, 34, 24, 16
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    step = plot_w / max(len(frequencies), 1)
    peak = max(frequencies, default=0) or 1
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" '
        'class="axis"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" class="tick">{peak}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" class="tick">0</text>',
    ]
    for i, count in enumerate(frequencies):
        x = left + i * step
        h = plot_h * count / peak
        y = height - bottom - h
        body.append(
            f'<g class="bin"><title>{i * 10}%: {count} observations</title>'
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{step - 4:.1f}" height="{h:.1f}" rx="2"/>'
            + (
                f'<text x="{x + step / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'class="count">{count}</text>'
                if count
                else ""
            )
            + f'<text x="{x + step / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'class="tick">{i * 10}</text></g>'
        )
    return _svg(width, height, label, body, "histogram")


def usage_line(
    readings: Sequence[tuple[datetime, float]], mean: float, median: float, label: str
) -> Markup:
    """Draw usage over time (0–100 %) with the mean and the median as horizontal lines."""
    width, height, left, bottom, top_pad, right = 640, 220, 34, 26, 10, 8
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    if len(readings) > _MAX_POINTS:
        stride = len(readings) / _MAX_POINTS
        readings = [readings[int(i * stride)] for i in range(_MAX_POINTS)]

    def y_of(usage: float) -> float:
        return top_pad + plot_h * (1 - max(0.0, min(usage, 100.0)) / 100)

    body = []
    for tick in (0, 25, 50, 75, 100):
        y = y_of(tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    if readings:
        start, end = readings[0][0], readings[-1][0]
        span = (end - start).total_seconds() or 1.0
        points = " ".join(
            f"{left + plot_w * (t - start).total_seconds() / span:.1f},{y_of(u):.1f}"
            for t, u in readings
        )
        body.append(f'<polyline points="{points}" class="usage"/>')
        for x, anchor, moment in ((left, "start", start), (width - right, "end", end)):
            body.append(
                f'<text x="{x}" y="{height - 6}" text-anchor="{anchor}" class="tick">'
                f"{_esc(moment.strftime('%Y-%m-%d %H:%M'))}</text>"
            )
    else:
        body.append(f'<text x="{left + 10}" y="{height / 2}" class="label">no observations</text>')
    for name, value in (("mean", mean), ("median", median)):
        y = y_of(value)
        body.append(
            f'<g class="{name}"><title>{name} {_num(value)}</title>'
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>'
            f'<text x="{width - right - 4}" y="{y - 4 if name == "mean" else y + 12:.1f}" '
            f'text-anchor="end">{name} {_num(value)}</text></g>'
        )
    return _svg(width, height, label, body, "usage-line")
