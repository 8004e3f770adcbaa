"""``tunewise export`` — hand a run's data to other tools: a store table as JSONL/CSV, or the
audit as inspect_ai eval logs (``inspect view`` shows them)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tunewise.config import RUN_DIR_HELP
from tunewise.progress import console

FORMATS = ("jsonl", "csv", "inspect")


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(out: Path = typer.Argument(..., help="output file (.jsonl, .csv) or, for --format inspect, a folder"),
           run_dir: Path = typer.Option(..., "--run-dir", help=RUN_DIR_HELP),
           table: Optional[str] = typer.Option(None, help="generations, judgments, metrics, records or stages"),
           format: Optional[str] = typer.Option(None, "--format", help="jsonl, csv (default: from OUT's suffix) or "
                                                                       "inspect (one inspect_ai .eval log per "
                                                                       "audited model)"),
           judge: Optional[str] = typer.Option(None, help="inspect: judge whose scores to include (default: "
                                                          "the audit's)")) -> None:
    """Export one table of a run's store, or its audit as inspect_ai eval logs."""
    from tunewise.errors import ConfigError, TunewiseError
    from tunewise.runs.store import RunStore

    if not (run_dir / "tunewise.sqlite").exists():
        raise TunewiseError(f"{run_dir}: not a run folder (no tunewise.sqlite)")
    chosen = format or out.suffix.lstrip(".")
    if chosen not in FORMATS:
        raise ConfigError(f"--format {chosen!r}: one of {', '.join(FORMATS)}")
    with RunStore(run_dir) as store:
        if chosen == "inspect":
            from tunewise.runs.inspect_log import export_inspect_logs

            for path in export_inspect_logs(store, out, judge=judge):
                console.print(f"wrote {path}  (view: inspect view --log-dir {out})")
            return
        if table is None:
            raise ConfigError("--table: give the table to export (generations, judgments, metrics, records, stages)")
        if out.suffix.lstrip(".") != chosen:
            raise ConfigError(f"{out}: a {chosen} export needs a .{chosen} file name")
        try:
            path = store.export(table, out)
        except ValueError as exc:
            raise TunewiseError(str(exc)) from None
    console.print(f"wrote {path}")
