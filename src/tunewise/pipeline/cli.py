"""``tunewise run EXPERIMENT.yaml`` and ``tunewise demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunewise.progress import console


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)


def _run_and_print(config, run_dir, from_stage, only) -> None:
    """Run, print the stage table and headline, then fail (exit 2) if a stage failed."""
    from tunewise.pipeline.run import Pipeline

    pipeline = Pipeline(config, run_dir)
    result = pipeline.run(from_stage=from_stage, only=only)
    _print_result(result)
    pipeline.raise_for_failures(result)


def _print_result(result) -> None:
    table = Table(title=f"run folder {result.run_dir}")
    for column in ("stage", "status", "wall s", "note"):
        table.add_column(column)
    for outcome in result.outcomes:
        table.add_row(outcome.stage, outcome.status, f"{outcome.wall_s:.0f}" if outcome.wall_s else "",
                      outcome.reason)
    console.print(table)
    from rich.markup import escape

    for sentence in result.headline:  # the report's top sentences, so the numbers show without opening it
        console.print(escape(sentence))
    console.print(f"total {result.wall_s / 60:.1f} min")
    if result.report_path:
        console.print(f"report: {result.report_path}")


def run(
    experiment: Path = typer.Argument(None, help="experiment YAML (see examples/)"),
    run_dir: Path = typer.Option(None, "--run-dir", help="run folder (default: run_dir in the file, or runs/<name>)"),
    from_stage: str = typer.Option(None, "--from", help="redo this stage and every later one "
                                                        "(assess, train, audit, persona, gate, report)"),
    only: list[str] = typer.Option(None, "--only", help="run only these stages (repeatable)"),
    help_config: bool = typer.Option(False, "--help-config", help="print every experiment field and exit"),
    check: bool = typer.Option(False, "--check", help="only check the experiment (every section built into its "
                                                      "capability's config) and exit: 0 if it would run, 2 if not"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (each stage's models, sample counts, "
                                                          "steps) with an estimated time per stage and the total; "
                                                          "loads no model, runs nothing"),
) -> None:
    """Run a whole experiment in one run folder; finished stages are skipped on re-runs."""
    from tunewise.pipeline.config import describe_fields, load_experiment

    if help_config:
        console.print("\n".join(describe_fields()), markup=False, highlight=False)
        return
    if experiment is None:
        raise typer.BadParameter("give an experiment YAML (or --help-config to list its fields)")
    config = load_experiment(experiment)
    if check:
        from tunewise.pipeline.run import STAGES, Pipeline

        enabled = [stage for stage in STAGES if Pipeline.enabled_in(config, stage)]
        console.print(f"{experiment}: ok; would run {', '.join(enabled)} in {run_dir or config.resolved_run_dir()}")
        return
    if dry_run:
        _print_plan(config, run_dir, from_stage, only)
        return
    _run_and_print(config, run_dir, from_stage, only)


def _print_plan(config, run_dir, from_stage, only) -> None:
    from tunewise.pipeline.plan import plan_experiment, print_plan

    print_plan(plan_experiment(config, run_dir, from_stage=from_stage, only=only), console, config.name)


def demo(
    quick: bool = typer.Option(False, "--quick", help="smaller, faster run on packaged:smollm2-135m-instruct "
                                                      "(docs/report.md gives measured wall times)"),
    run_dir: Path = typer.Option(None, "--run-dir", help="run folder (default runs/demo or runs/demo-quick)"),
    from_stage: str = typer.Option(None, "--from", help="redo this stage and every later one"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan with estimated times; run nothing"),
) -> None:
    """The whole workflow on the packaged 0.5B model: insecure-code LoRA, plain vs inoculated,
    audited with the core probes and the local judge, persona drift, a domain gate, report.html."""
    from tunewise.pipeline import builtin_experiment

    config = builtin_experiment("quick" if quick else "demo")
    if dry_run:
        _print_plan(config, run_dir, from_stage, None)
        return
    _run_and_print(config, run_dir, from_stage, None)
