"""``tunewise report --run-dir RUN_DIR``: write the HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.config import config_command
from tunewise.errors import ConfigError
from tunewise.progress import console
from tunewise.report.config import ReportConfig


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@config_command(ReportConfig)
def report(
    config: ReportConfig,
    run_dir: Path = typer.Option(None, "--run-dir", help="run folder to report on (holds tunewise.sqlite); required"),
    run_dir_argument: Path = typer.Argument(None, metavar="[RUN_DIR]", show_default=False,
                                            help="the run folder as a positional argument (older spelling "
                                                 "of --run-dir)"),
) -> None:
    """Write a self-contained HTML report (no network needed to view it) of everything in the run folder."""
    from rich.markup import escape

    from tunewise.report.build import run_report

    if run_dir is not None and run_dir_argument is not None and run_dir != run_dir_argument:
        raise ConfigError(f"two run folders: --run-dir {run_dir} and {run_dir_argument}; give one")
    folder = run_dir if run_dir is not None else run_dir_argument
    if folder is None:
        raise ConfigError("which run folder? give --run-dir RUN_DIR (the folder `tunewise run` or a stage wrote)")
    result = run_report(config, folder)
    for sentence in result.headline:
        console.print(escape(sentence))
    console.print(f"report: {result.path}")
