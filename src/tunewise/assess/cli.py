"""``tunewise assess``: flags generated from ``AssessConfig``; the work is ``run_assess``.

Two options are the command's own, not settings of a run: ``--list-tasks`` and ``--show`` (print
the tables of an existing run folder). They are answered before the config is validated, so
``tunewise assess --show --run-dir R`` needs no ``--task``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.assess.config import AssessConfig
from tunewise.config import RUN_DIR_HELP, config_command


@config_command(AssessConfig)
def _assess(config: AssessConfig,
            run_dir: Path = typer.Option(Path("runs/assess"), "--run-dir", help=RUN_DIR_HELP)) -> None:
    from tunewise.assess.runner import run_assess

    result = run_assess(config, run_dir)
    print_results(result.strategies, result.curve, result.upgrade, [result.recommendation.to_dict()], str(run_dir),
                  result.prices_source, result.notes, result.skipped)


_OWN_OPTIONS = [
    inspect.Parameter("list_tasks", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--list-tasks", help="list the built-in tasks and exit")),
    inspect.Parameter("show", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--show", help="print the tables of an existing --run-dir folder; "
                                                                 "run nothing")),
]


def assess(*, list_tasks: bool = False, show: bool = False, **options) -> None:
    """Does prompting already solve the task? Strategies and models vs a LoRA fine-tune."""
    if list_tasks:
        from tunewise.assess.tasks import builtin_task_module
        from tunewise.registry import TASKS

        for name in TASKS.names():
            typer.echo(f"{name}: {builtin_task_module(name).DESCRIPTION}")
        return
    if show:
        show_run(options["run_dir"])
        return
    _assess(**options)


assess.__signature__ = inspect.Signature([*inspect.signature(_assess).parameters.values(), *_OWN_OPTIONS])
assess.__annotations__ = {**_assess.__annotations__, "list_tasks": bool, "show": bool}
assess.__config_model__ = _assess.__config_model__  # the guard test checks the flags against it
assess.__config_excluded__ = _assess.__config_excluded__


def show_run(run_dir: Path) -> None:
    """The tables of a finished (or interrupted) run, from its store."""
    from tunewise.errors import ConfigError
    from tunewise.runs.store import RunStore

    if not (Path(run_dir) / "tunewise.sqlite").is_file():
        raise ConfigError(f"--run-dir {run_dir}: no run folder there (no tunewise.sqlite); run tunewise assess first")
    with RunStore(run_dir) as store:
        print_results(store.records("assess.strategy"), store.records("assess.curve"),
                      store.records("assess.upgrade"), store.records("assess.recommendation"), str(run_dir),
                      skipped=store.records("assess.skipped"))


def print_results(strategies: list[dict], curve: list[dict], upgrade: list[dict], recommendations: list[dict],
                  run: str, prices_source: str = "", notes: list[str] | None = None,
                  skipped: list[dict] | None = None) -> None:
    """The terminal view: strategy table (skipped strategies with their reason), learning curve,
    upgrade view, notes, then the rule and the decision, always last. Written to stdout (progress
    goes to stderr); 160 columns when not a terminal, so that piping to a file does not truncate
    the table."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    width = console.width
    console.print(strategy_table(strategies, skipped), width=width)
    if curve:
        console.print(curve_table(curve), width=width)
    if len(upgrade) > 1:
        console.print(upgrade_table(upgrade), width=width)
    for line in notes or []:
        console.print(f"[yellow]{escape(line)}[/yellow]", width=width)
    if prices_source:
        console.print(f"[dim]prices: {escape(prices_source)} (example prices: edit them)[/dim]", width=width)
    console.print(f"[dim]results in {escape(run)}[/dim]", width=width)
    for decision in recommendations:
        console.print(f"[bold]Rule:[/bold] {escape(decision['rule'])}", width=width)
        console.print(f"[bold]Recommendation:[/bold] {escape(decision['sentence'])}", width=width)


def strategy_table(rows: list[dict], skipped: list[dict] | None = None) -> Table:
    table = Table(title="assess: accuracy on the test split (95% Wilson CI)")
    for column in ("model", "strategy", "accuracy", "95% CI", "n", "prompt tok", "cached tok", "gen tok",
                   "s/query", "$/1k", "$/1k cached"):
        table.add_column(column, justify="left" if column in ("model", "strategy") else "right")
    for r in rows:
        table.add_row(escape(_short(r["model"])), r["strategy"], f"{100 * r['accuracy']:.1f}%",
                      f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}", str(r["n"]), f"{r['prompt_tokens']:.0f}",
                      f"{r['cached_prompt_tokens']:.0f}", f"{r['generated_tokens']:.1f}", f"{r['s_per_query']:.2f}",
                      f"{r['cost_per_1k']:.4f}", f"{r['cost_per_1k_cached']:.4f}")
    for r in skipped or []:  # the data could not support it: said in the table, not a crash
        table.add_row("-", r["strategy"], "skipped", escape(r["reason"]), *[""] * 7)
    return table


def curve_table(curve: list[dict]) -> Table:
    table = Table(title="LoRA learning curve")
    for column in ("train size", "accuracy", "95% CI", "train s"):
        table.add_column(column, justify="right")
    for p in curve:
        table.add_row(str(p["train_size"]), f"{100 * p['accuracy']:.1f}%",
                      f"{100 * p['ci_low']:.1f}-{100 * p['ci_high']:.1f}", f"{p['train_wall_s']:.0f}")
    return table


def upgrade_table(rows: list[dict]) -> Table:
    table = Table(title="upgrade view: moving the task to each model")
    for column in ("model", "best prompting", "prompts", "fine-tune"):
        table.add_column(column)
    for r in rows:
        best = f"{r['best_strategy']} {100 * r['best_accuracy']:.1f}%" if r["best_strategy"] else "-"
        table.add_row(escape(_short(r["model"])), best, r["prompting_port"], escape(r["finetune_port"]))
    return table


def _short(model: str) -> str:
    """Adapter paths are long; the table shows the adapter folder's last parts."""
    if "+lora:" in model:
        base, adapter = model.split("+lora:", 1)
        return f"{base}+lora:…/{'/'.join(Path(adapter).parts[-2:])}"
    return model


def register(app: typer.Typer) -> None:
    app.command("assess")(assess)
