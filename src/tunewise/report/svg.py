"""Hand-built inline SVG charts for the report.

Why not matplotlib: its SVG output carries an XML prolog, a DOCTYPE and per-figure ids, is
10-50x larger, and makes escaping labels harder to audit. The report needs four chart shapes
(lines, dots with intervals, scatter, ROC), so a few small functions that emit plain SVG keep
the report one small self-contained file. Every label passes through ``html.escape`` because
labels can contain model names, probe ids or trait names taken from user files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

# Colour-blind-safe palette (Okabe-Ito); series keep their colour across charts by order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

WIDTH, HEIGHT = 640, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 150, 20, 46


@dataclass
class Series:
    """One named line or point set: ``points`` are (x, y) pairs in data units."""

    name: str
    points: list[tuple[float, float]]
    intervals: list[tuple[float, float]] = field(default_factory=list)  # (low, high) per point, optional


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:g}"


class _Frame:
    """Maps data coordinates to pixels inside the plotting area and draws axes."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], width: int = WIDTH,
                 height: int = HEIGHT, x_ticks: list[float] | None = None, y_ticks: list[float] | None = None):
        self.width, self.height = width, height
        self.x_ticks = x_ticks if x_ticks is not None else nice_ticks(*x_range)
        self.y_ticks = y_ticks if y_ticks is not None else nice_ticks(*y_range)
        self.x0, self.x1 = min(self.x_ticks[0], x_range[0]), max(self.x_ticks[-1], x_range[1])
        self.y0, self.y1 = min(self.y_ticks[0], y_range[0]), max(self.y_ticks[-1], y_range[1])
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1
        if self.y1 == self.y0:
            self.y1 = self.y0 + 1
        self.left, self.right = MARGIN_LEFT, width - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, y: float) -> float:
        return self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def axes(self, x_label: str, y_label: str, y_format=_format_tick, x_format=_format_tick) -> list[str]:
        parts = []
        for y in self.y_ticks:
            parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{self.py(y):.1f}" y2="{self.py(y):.1f}" '
                         'stroke="#e4e4e4"/>')
            parts.append(f'<text x="{self.left - 6}" y="{self.py(y) + 4:.1f}" text-anchor="end">'
                         f"{escape(y_format(y))}</text>")
        for x in self.x_ticks:
            parts.append(f'<line x1="{self.px(x):.1f}" x2="{self.px(x):.1f}" y1="{self.bottom}" '
                         f'y2="{self.bottom + 4}" stroke="#555"/>')
            parts.append(f'<text x="{self.px(x):.1f}" y="{self.bottom + 17}" text-anchor="middle">'
                         f"{escape(x_format(x))}</text>")
        parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{self.bottom}" y2="{self.bottom}" stroke="#555"/>')
        parts.append(f'<line x1="{self.left}" x2="{self.left}" y1="{self.top}" y2="{self.bottom}" stroke="#555"/>')
        parts.append(f'<text x="{(self.left + self.right) / 2:.1f}" y="{self.height - 8}" text-anchor="middle">'
                     f"{escape(x_label)}</text>")
        mid = (self.top + self.bottom) / 2
        parts.append(f'<text x="14" y="{mid:.1f}" text-anchor="middle" transform="rotate(-90 14 {mid:.1f})">'
                     f"{escape(y_label)}</text>")
        return parts


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _legend(names: list[str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        yy = y + i * 18
        parts.append(f'<rect x="{x:.1f}" y="{yy - 9:.1f}" width="12" height="12" fill="{colour}"/>')
        label = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<text x="{x + 17:.1f}" y="{yy + 1:.1f}">{escape(label)}</text>')
    return parts


def _bounds(values: list[float], pad_zero: bool = False) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return (0.0, 1.0)
    low, high = min(finite), max(finite)
    if pad_zero:
        low = min(low, 0.0)
    return low, high


def line_chart(series: list[Series], title: str, x_label: str, y_label: str, markers: bool = False,
               y_range: tuple[float, float] | None = None, diagonal: bool = False) -> str:
    """Lines (one per series) over a shared x axis; ``diagonal`` adds the chance line of a ROC."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [v for s in series for iv in s.intervals for v in iv]
    frame = _Frame(_bounds(xs), y_range or _bounds(ys))
    body = frame.axes(x_label, y_label)
    if diagonal:
        body.append(f'<line x1="{frame.px(frame.x0):.1f}" y1="{frame.py(frame.y0):.1f}" x2="{frame.px(frame.x1):.1f}" '
                    f'y2="{frame.py(frame.y1):.1f}" stroke="#999" stroke-dasharray="4 4"/>')
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        if len(points) > 1:
            path = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in points)
            body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if markers or len(points) == 1:
            body += [f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3.5" fill="{colour}"/>'
                     for x, y in points]
    body += _legend([s.name for s in series], frame.right + 14, frame.top + 10)
    return _svg(frame.width, frame.height, title, body)


def scatter_chart(series: list[Series], title: str, x_label: str, y_label: str,
                  point_labels: dict[tuple[int, int], str] | None = None) -> str:
    """Points per series, joined in order by a faint line (e.g. checkpoints of one run)."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    frame = _Frame(_bounds(xs), _bounds(ys))
    body = frame.axes(x_label, y_label)
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        if len(s.points) > 1:
            path = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in s.points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity="0.35"/>')
        for j, (x, y) in enumerate(s.points):
            body.append(f'<circle class="series" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="4.5" '
                        f'fill="{colour}" fill-opacity="0.85"/>')
            label = (point_labels or {}).get((i, j))
            if label:
                body.append(f'<text x="{frame.px(x) + 6:.1f}" y="{frame.py(y) - 6:.1f}" font-size="10">'
                            f"{escape(label)}</text>")
    body += _legend([s.name for s in series], frame.right + 14, frame.top + 10)
    return _svg(frame.width, frame.height, title, body)


def interval_chart(rows: list[tuple[str, float, float, float]], title: str, x_label: str,
                   groups: list[str] | None = None, percent: bool = True) -> str:
    """Horizontal dot-and-whisker chart: one row per (label, value, low, high).

    Used for misalignment rates, where the interval matters more than the point: with 8 probes
    and a handful of samples each, a 10-point gap can be noise, and the whiskers show it.
    ``groups`` (same length as rows) colours rows by model so per-probe rows stay readable.
    """
    row_height = 22
    height = MARGIN_TOP + MARGIN_BOTTOM + row_height * max(len(rows), 1)
    label_width = 270
    values = [v for _, value, low, high in rows for v in (value, low, high)]
    high = max([v for v in values if math.isfinite(v)] or [1.0])
    x_range = (0.0, max(high, 0.05))
    frame = _Frame(x_range, (0, 1), width=WIDTH + 120, height=height)
    frame.left, frame.right = label_width, WIDTH + 120 - 30
    fmt = (lambda v: f"{v * 100:g}%") if percent else _format_tick
    body = []
    for x in frame.x_ticks:
        body.append(f'<line x1="{frame.px(x):.1f}" x2="{frame.px(x):.1f}" y1="{frame.top}" y2="{frame.bottom}" '
                    'stroke="#e4e4e4"/>')
        body.append(f'<text x="{frame.px(x):.1f}" y="{frame.bottom + 17}" text-anchor="middle">{escape(fmt(x))}</text>')
    body.append(f'<line x1="{frame.left}" x2="{frame.right}" y1="{frame.bottom}" y2="{frame.bottom}" stroke="#555"/>')
    body.append(f'<text x="{(frame.left + frame.right) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{escape(x_label)}</text>")
    group_names = list(dict.fromkeys(groups or []))
    for i, (label, value, low, high_) in enumerate(rows):
        y = frame.top + row_height * (i + 0.5)
        colour = PALETTE[group_names.index(groups[i]) % len(PALETTE)] if groups else PALETTE[0]
        shown = label if len(label) <= 36 else label[:35] + "…"
        body.append(f'<text x="{frame.left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(shown)}</text>')
        if math.isfinite(low) and math.isfinite(high_):
            body.append(f'<line x1="{frame.px(low):.1f}" x2="{frame.px(high_):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="{colour}" stroke-width="2"/>')
            for edge in (low, high_):
                body.append(f'<line x1="{frame.px(edge):.1f}" x2="{frame.px(edge):.1f}" y1="{y - 5:.1f}" '
                            f'y2="{y + 5:.1f}" stroke="{colour}" stroke-width="2"/>')
        if math.isfinite(value):
            body.append(f'<circle class="series" cx="{frame.px(value):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
    return _svg(frame.width, height, title, body)
