"""``tunewise export RUN_DIR TABLE OUT`` — hand a run's data to other tools."""

from __future__ import annotations

import typer

from tunewise.progress import console


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(run_dir: str = typer.Argument(..., help="run folder"),
           table: str = typer.Argument(..., help="generations, judgments, metrics, records or stages"),
           out: str = typer.Argument(..., help="output file, .jsonl or .csv")) -> None:
    """Export one table of a run's store to JSONL or CSV."""
    from pathlib import Path

    from tunewise.errors import TunewiseError
    from tunewise.runs.store import RunStore

    if not (Path(run_dir) / "tunewise.sqlite").exists():
        raise TunewiseError(f"{run_dir}: not a run folder (no tunewise.sqlite)")
    try:
        path = RunStore(run_dir).export(table, out)
    except ValueError as exc:
        raise TunewiseError(str(exc)) from None
    console.print(f"wrote {path}")
