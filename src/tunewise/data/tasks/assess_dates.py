"""Built-in assess task ``dates``: rewrite a date written in one of many styles as YYYY-MM-DD.

A deterministic generator (our own formats, no external data). Numeric styles are made
unambiguous by the task description (dots = day.month.year, slashes = month/day/year), which
is exactly what zero-shot prompting lacks and instructions or shots supply.
"""

from __future__ import annotations

import datetime as dt
import random

NAME = "dates"
INSTRUCTION = "Normalise the date."
DESCRIPTION = (
    "Rewrite the date in the user's message in ISO 8601 form, YYYY-MM-DD, and reply with that "
    "date only (no other words). Numeric dates with dots are day.month.year (European); numeric "
    "dates with slashes are month/day/year (US). Two-digit years mean 20YY."
)
METRIC = {"name": "exact"}

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _styles(date: dt.date) -> list[str]:
    month, short = _MONTHS[date.month - 1], _MONTHS[date.month - 1][:3]
    return [
        f"{month} {date.day}, {date.year}",
        f"{_ordinal(date.day)} of {month} {date.year}",
        f"{date.day} {short} {date.year}",
        f"{short}. {_ordinal(date.day)} '{date.year % 100:02d}",
        f"{date.day:02d}.{date.month:02d}.{date.year}",
        f"{date.month}/{date.day}/{date.year}",
        f"{date.month:02d}/{date.day:02d}/{date.year % 100:02d}",
        f"{_WEEKDAYS[date.weekday()]}, {month} {_ordinal(date.day)} {date.year}",
        f"{date.year} {month} {date.day}",
        f"the {_ordinal(date.day)} day of {month}, {date.year}",
    ]


def generate(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct (input, output) pairs; the same ``seed`` always gives the same list."""
    rng = random.Random(f"dates:{seed}")
    start = dt.date(2000, 1, 1).toordinal()
    end = dt.date(2039, 12, 31).toordinal()
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        date = dt.date.fromordinal(rng.randint(start, end))
        text = rng.choice(_styles(date))
        if text in seen:
            continue
        seen.add(text)
        lead = rng.choice(["", "Date: ", "The invoice is dated ", "Meeting on ", "Due "])
        pairs.append((f"{lead}{text}", date.isoformat()))
    return pairs
