"""``tunewise report RUN_DIR``: write the HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.progress import console


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    run_dir: Path = typer.Argument(..., help="run folder (holds tunewise.sqlite)"),
    out: Path = typer.Option(None, "--out", help="where to write the HTML (default RUN_DIR/report.html)"),
) -> None:
    """Write a self-contained HTML report (no network needed to view it) of everything in RUN_DIR."""
    from tunewise.report import build_report

    path = build_report(run_dir, out)
    console.print(f"report: {path}")
