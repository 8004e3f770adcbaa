"""Cell formatting shared by the report's sections: escaping, percentages, numbers, tables.

Every value that reaches the page passes through ``esc`` (``html.escape``): model answers and
config values are untrusted text, and the page's Content-Security-Policy is a second wall, not
the first.
"""

from __future__ import annotations

import math
from html import escape


def esc(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def pct(value, digits: int = 1) -> str:
    """A rate in [0, 1] as a percentage; missing values as an en dash."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{number * 100:.{digits}f}%"


def num(value, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return esc(value) if value is not None else "–"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return esc(value)
    return "–" if not math.isfinite(number) else f"{number:.{digits}g}"


def ci(low: float | None, high: float | None) -> str:
    """A 95% interval as 'low–high' in percent, or a dash when either end is missing."""
    return "–" if low is None or high is None else f"{pct(low)}–{pct(high)}"


def as_float(value: float | None) -> float:
    """None as NaN, for charts (which skip NaN)."""
    return math.nan if value is None else float(value)


def table(headers: list[str], rows: list[list], numeric: set[int] | None = None) -> str:
    """An HTML table; every cell is escaped (cells are plain values, never markup)."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def empty(message: str) -> str:
    return f'<p class="empty">{esc(message)}</p>'
