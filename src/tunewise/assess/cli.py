"""``tunewise assess``: parse flags into an AssessConfig, call run_assess, print the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from tunewise.errors import ConfigError


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def assess(
    task: Optional[str] = typer.Option(None, "--task", help="built-in task (dates, intents, extract, units) or JSONL"),
    model: Optional[list[str]] = typer.Option(None, "--model", help="model reference; repeat to compare models"),
    strategies: Optional[list[str]] = typer.Option(None, "--strategies",
                                                   help="comma list: zero-shot,instructions,few-shot-K,knn-K"),
    finetune: bool = typer.Option(True, "--finetune/--no-finetune", help="train the LoRA baseline and curve"),
    finetune_model: Optional[str] = typer.Option(None, help="model to fine-tune (default: first local model)"),
    train_sizes: Optional[str] = typer.Option(None, help="learning curve sizes, e.g. 16,64,256,0 (0 = all)"),
    epochs: Optional[int] = typer.Option(None, help="fine-tune epochs"),
    test_size: Optional[float] = typer.Option(None, help="test items (count, or fraction below 1)"),
    n_examples: Optional[int] = typer.Option(None, help="built-in tasks: examples to generate"),
    max_tokens: Optional[int] = typer.Option(None, help="answer length limit"),
    metric: Optional[str] = typer.Option(None, help="metric name (exact, normalized, contains, regex, choice, "
                                                    "numeric, json, python, judge); options via --config"),
    description: Optional[str] = typer.Option(None, help="detailed instructions for the instructions strategy"),
    backend: Optional[str] = typer.Option(None, help="hf, vllm or openai"),
    prefix_cache: bool = typer.Option(True, "--prefix-cache/--no-prefix-cache", help="hf: reuse the prefix KV cache"),
    prices: Optional[Path] = typer.Option(None, help="price table YAML (default: shipped example prices)"),
    config: Optional[Path] = typer.Option(None, help="YAML with AssessConfig fields (flags override it)"),
    run: Path = typer.Option(Path("runs/assess"), "--run", help="run folder"),
    list_tasks: bool = typer.Option(False, "--list-tasks", help="list the built-in tasks and exit"),
    show: bool = typer.Option(False, "--show", help="print the tables of an existing --run folder; run nothing"),
) -> None:
    """Does prompting already solve the task? Strategies and models vs a LoRA fine-tune."""
    from tunewise.assess import BUILTIN_TASKS, AssessConfig, run_assess
    from tunewise.progress import console
    from tunewise.runs.store import RunStore

    if list_tasks:
        from tunewise.assess.tasks import builtin_task_module

        for name in BUILTIN_TASKS:
            typer.echo(f"{name}: {builtin_task_module(name).DESCRIPTION}")
        return
    values: dict = {}
    if config:
        try:
            values = yaml.safe_load(config.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{config}: cannot read: {exc}") from None
        values = values.get("assess", values)
    flags = {"task": task, "models": model or None, "strategies": _split(strategies) or None,
             "finetune_model": finetune_model, "test_size": test_size, "n_examples": n_examples,
             "max_tokens": max_tokens, "description": description, "backend": backend,
             "prices": str(prices) if prices else None,
             "train_sizes": [int(s) for s in _split([train_sizes])] if train_sizes else None,
             "metric": {"name": metric} if metric else None}
    values.update({k: v for k, v in flags.items() if v is not None})
    values["finetune"] = finetune and values.get("finetune", True)
    values["prefix_cache"] = prefix_cache and values.get("prefix_cache", True)
    if epochs is not None:
        values["train_options"] = {**values.get("train_options", AssessConfig.model_fields["train_options"]
                                                .default_factory()), "epochs": epochs}
    if show:
        with RunStore(run) as store:
            print_results(store.records("assess.strategy"), store.records("assess.curve"),
                          store.records("assess.upgrade"), store.records("assess.recommendation"), str(run))
        return
    if not values.get("task"):
        raise ConfigError("give --task (a built-in task or a JSONL file) or a --config with task:")
    try:
        assess_config = AssessConfig(**values)
    except ValueError as exc:
        raise ConfigError(f"assess config: {exc}") from None
    with RunStore(run) as store:
        result = run_assess(assess_config, store)
    print_results(result.strategies, result.curve, result.upgrade, [result.recommendation.to_dict()], str(run),
                  result.prices_source, result.notes)


def print_results(strategies: list[dict], curve: list[dict], upgrade: list[dict], recommendations: list[dict],
                  run: str, prices_source: str = "", notes: list[str] | None = None) -> None:
    """The terminal view: strategy table, learning curve, upgrade view, rule and decision.
    Written to stdout (progress goes to stderr); 160 columns when not a terminal, so that piping
    to a file does not truncate the table."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    width = console.width
    console.print(strategy_table(strategies), width=width)
    if curve:
        console.print(curve_table(curve), width=width)
    if len(upgrade) > 1:
        console.print(upgrade_table(upgrade), width=width)
    for decision in recommendations:
        console.print(f"[bold]Rule:[/bold] {escape(decision['rule'])}", width=width)
        console.print(f"[bold]Recommendation:[/bold] {escape(decision['sentence'])}", width=width)
    if prices_source:
        console.print(f"[dim]prices: {escape(prices_source)} (example prices: edit them)[/dim]", width=width)
    console.print(f"[dim]results in {escape(run)}[/dim]", width=width)
    for line in notes or []:
        console.print(f"[yellow]{escape(line)}[/yellow]", width=width)


def strategy_table(rows: list[dict]) -> Table:
    table = Table(title="assess: accuracy on the test split (95% Wilson CI)")
    for column in ("model", "strategy", "accuracy", "95% CI", "n", "prompt tok", "cached tok", "gen tok",
                   "s/query", "$/1k", "$/1k cached"):
        table.add_column(column, justify="left" if column in ("model", "strategy") else "right")
    for r in rows:
        table.add_row(escape(_short(r["model"])), r["strategy"], f"{100 * r['accuracy']:.1f}%",
                      f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}", str(r["n"]), f"{r['prompt_tokens']:.0f}",
                      f"{r['cached_prompt_tokens']:.0f}", f"{r['generated_tokens']:.1f}", f"{r['s_per_query']:.2f}",
                      f"{r['cost_per_1k']:.4f}", f"{r['cost_per_1k_cached']:.4f}")
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
