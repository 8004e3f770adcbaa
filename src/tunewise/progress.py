"""One progress-bar style for all long work: rich bars with an ETA, written to stderr."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)


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
