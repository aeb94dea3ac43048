"""Small inline SVG charts drawn on the server (the CSP forbids scripts and inline styles: colours come
from CSS classes in admin.css, sizes from presentation attributes).

Each chart is an ``<svg role="img">`` with a ``<title>`` and an ``aria-label`` that say in words what
it shows, so a screen reader gets the same answer as the eye.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bmsync.admin.html import esc

WIDTH = 640
HEIGHT = 180
LEFT = 44  # room for the value axis' labels
BOTTOM = 22  # room for the time axis' labels
TOP = 10
RIGHT = 8


@dataclass(frozen=True)
class Series:
    """One line (or one set of bars): a name for the legend, a CSS class for its colour, and one
    value per slot (``None``: nothing measured then)."""

    name: str
    values: Sequence[float | None]
    css_class: str = "s1"


def _nice_top(value: float) -> float:
    """A round top for the value axis, at or above ``value``."""
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 30, 50, 60, 100, 120, 200, 300, 500, 600, 1000, 1800, 3600):
        if value <= step:
            return float(step)
    magnitude = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // magnitude) * magnitude)


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str = "bars",
    unit: str = "",
    summary: str = "",
    top: float | None = None,
) -> str:
    """A bar chart (``kind="bars"``, series side by side) or a line chart (``kind="lines"``) over
    the slots named by ``labels`` (e.g. hours); every 4th slot's label is written on the time axis.
    ``summary`` is the sentence a screen reader hears (the title when empty)."""
    slots = len(labels)
    highest = max((value for line in series for value in line.values if value is not None), default=0.0)
    axis_top = top if top is not None else _nice_top(highest)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot_width = plot_width / max(slots, 1)

    def y(value: float) -> float:
        return TOP + plot_height - min(value, axis_top) / axis_top * plot_height

    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_height}" '
        f'x2="{WIDTH - RIGHT}" y2="{TOP + plot_height}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_height}"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        tick = axis_top * fraction
        parts.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{esc(_number(tick))}{esc(unit)}</text>"
        )
        if fraction:
            parts.append(
                f'<line class="grid" x1="{LEFT}" y1="{y(tick):.1f}" x2="{WIDTH - RIGHT}" y2="{y(tick):.1f}"/>'
            )
    label_every = max(1, slots // 6)
    for index, label in enumerate(labels):
        if index % label_every == 0:
            parts.append(
                f'<text class="tick" x="{LEFT + (index + 0.5) * slot_width:.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="middle">{esc(label)}</text>'
            )
    if kind == "bars":
        bar_width = slot_width * 0.8 / max(len(series), 1)
        for number, line in enumerate(series):
            for index, measured in enumerate(line.values):
                if not measured:
                    continue
                value = measured
                x = LEFT + index * slot_width + slot_width * 0.1 + number * bar_width
                parts.append(
                    f'<rect class="{esc(line.css_class)}" x="{x:.1f}" y="{y(value):.1f}" '
                    f'width="{bar_width:.1f}" height="{TOP + plot_height - y(value):.1f}">'
                    f"<title>{esc(line.name)} {esc(labels[index])}: "
                    f"{esc(_number(value))}{esc(unit)}</title></rect>"
                )
    else:
        for line in series:
            points = [
                f"{LEFT + (index + 0.5) * slot_width:.1f},{y(value):.1f}"
                for index, value in enumerate(line.values)
                if value is not None
            ]
            if len(points) > 1:
                parts.append(f'<polyline class="line {esc(line.css_class)}" points="{" ".join(points)}"/>')
            for point in points:
                cx, cy = point.split(",")
                parts.append(f'<circle class="{esc(line.css_class)}" cx="{cx}" cy="{cy}" r="2.5"/>')
    legend = "".join(
        f'<span class="legend"><span class="swatch {esc(line.css_class)}"></span>{esc(line.name)}</span>'
        for line in series
    )
    label = summary or title
    return (
        f'<figure class="chart"><figcaption>{esc(title)} {legend}</figcaption>'
        f'<svg role="img" aria-label="{esc(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{esc(label)}</title>{"".join(parts)}</svg></figure>'
    )
