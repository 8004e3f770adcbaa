"""One progress style for all long work: rich bars with an ETA, written to stderr, and one run
view (``RunView``) under them for ``tunewise run``/``demo``: stage i/n, elapsed, ETA of the run.

The stages keep their own bars (``progress_bar``); while a ``RunView`` is live, rich nests those
bars inside it and ``RunLive`` draws them *above* the run line, so the run line stays at the
bottom. On a console that is not a terminal (a log file, CI), live displays do not redraw, so
the view also prints one plain line as each stage starts and ends.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

console = Console(stderr=True)
# How far the measured/estimated ratio of finished stages may rescale the rest: one stage that
# was 50x off (a cache hit, a stalled machine) should not make the ETA absurd.
MIN_RATIO, MAX_RATIO = 0.2, 5.0


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True):
    """Yield an ``advance(n)`` function; the bar shows done/total, elapsed time and ETA."""
    if not enabled:
        yield lambda n=1: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def note(message: str) -> None:
    console.print(f"[dim]{message}[/dim]")


def estimate_ratio(estimates: Sequence[float], actuals: Sequence[float | None]) -> float:
    """Measured / estimated time of the finished stages that were estimated (> 0 s), clamped to
    [MIN_RATIO, MAX_RATIO]; 1 before any such stage has finished."""
    pairs = [(e, a) for e, a in zip(estimates, actuals) if a is not None and e > 0]
    if not pairs:
        return 1.0
    ratio = sum(a for _, a in pairs) / sum(e for e, _ in pairs)
    return min(MAX_RATIO, max(MIN_RATIO, ratio))


def run_eta(estimates: Sequence[float], actuals: Sequence[float | None], current: int | None,
            current_elapsed: float = 0.0) -> float:
    """Seconds left in the run. ``estimates[i]``: planned seconds of stage i; ``actuals[i]``: its
    measured wall time once finished (None before); ``current``: the running stage's index (None
    between stages), ``current_elapsed`` seconds into it. The stages not finished are their
    estimates times ``estimate_ratio`` (the finished stages' measured/planned ratio); the running
    one counts what is left of its rescaled estimate, never less than 0."""
    ratio = estimate_ratio(estimates, actuals)
    left = 0.0
    for index, (estimate, actual) in enumerate(zip(estimates, actuals)):
        if actual is not None:
            continue
        scaled = estimate * ratio
        left += max(0.0, scaled - current_elapsed) if index == current else scaled
    return left


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class RunLive(Live):
    """A ``Live`` that draws the displays nested in it (the stages' bars) above its own line."""

    @property
    def renderable(self):
        stack = self.console._live_stack
        if stack and self is stack[0]:
            return Group(*[live.get_renderable() for live in stack[1:]], self.get_renderable())
        return self.get_renderable()


@dataclass
class RunView:
    """The whole run's progress: ``start(i)``/``finish(i, wall_s)`` around each stage, ``line()``
    for the text; use ``with view.live():`` to show it under the stages' bars."""

    name: str
    stages: list[str]
    estimates: list[float]
    actuals: list[float | None] = field(default_factory=list)
    current: int | None = None
    started: float = field(default_factory=time.perf_counter)
    stage_started: float = 0.0

    def __post_init__(self):
        self.actuals = self.actuals or [None] * len(self.stages)

    def start(self, index: int) -> None:
        self.current, self.stage_started = index, time.perf_counter()
        note(self.line())

    def finish(self, index: int, wall_s: float) -> None:
        self.actuals[index] = wall_s
        self.current = None

    def eta(self) -> float:
        elapsed = time.perf_counter() - self.stage_started if self.current is not None else 0.0
        return run_eta(self.estimates, self.actuals, self.current, elapsed)

    def line(self) -> str:
        done = sum(a is not None for a in self.actuals)
        where = f"stage {self.current + 1}/{len(self.stages)} {self.stages[self.current]}" \
            if self.current is not None else f"{done}/{len(self.stages)} stages finished"
        return (f"run {self.name}: {where} · elapsed {clock(time.perf_counter() - self.started)} · "
                f"eta {clock(self.eta())}")

    @contextmanager
    def live(self, enabled: bool = True):
        """Show the run line under the stages' bars while the block runs; print it once at the end."""
        try:
            if not enabled:
                yield self
                return
            with RunLive(get_renderable=lambda: Text(self.line(), style="bold cyan"), console=console,
                         refresh_per_second=2, transient=True):
                yield self
        finally:
            note(self.line())
