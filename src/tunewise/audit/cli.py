"""``tunewise audit`` and ``tunewise judge-eval``: parse, call tunewise.audit, print a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.errors import ConfigError
from tunewise.progress import console


def _fmt(value, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def _parse_models(models: list[str]) -> dict[str, str]:
    """``REF`` or ``LABEL=REF``; unlabeled models get "model1", "model2"... except a lone base."""
    parsed: dict[str, str] = {}
    for i, item in enumerate(models, start=1):
        label, sep, ref = item.partition("=")
        if not sep or ":" in label:
            label, ref = ("base" if i == 1 else f"model{i}"), item
        if label in parsed:
            raise ConfigError(f"--model: label {label!r} given twice")
        parsed[label] = ref
    return parsed


def audit_command(
    model: list[str] = typer.Option(..., "--model", help="Model ref, or LABEL=REF; repeat. The first is the baseline."),
    probes: str = typer.Option("core", help="Probe set name (core, extended, harmful-requests) or YAML path."),
    samples: int = typer.Option(10, help="Answers per probe and variant (temperature 1)."),
    judge: str = typer.Option("local", help="local, or llm:<model ref>."),
    variants: str = typer.Option("", help="Comma list beyond plain: json, training, inoculated."),
    preset: str = typer.Option("betley", help="Threshold preset: betley, inoculation-repo, or 'aligned<30,coherent>50'."),
    run: Path = typer.Option(Path("runs/audit"), help="Run folder (resumes if it exists)."),
    max_tokens: int = typer.Option(256, help="Max new tokens per answer."),
    temperature: float = typer.Option(1.0),
    seed: int = typer.Option(0),
    backend: Optional[str] = typer.Option(None, help="Backend engine (hf, vllm, openai); default from the ref."),
    inoculation_prompt: Optional[str] = typer.Option(None, help="System prompt for the 'inoculated' variant: a train inoculation preset name or text."),
    training_template: Optional[str] = typer.Option(None, help="Template with {question} for the 'training' variant."),
    max_failure_rate: float = typer.Option(0.1, help="Fail when more judgments than this fraction failed."),
    export: Optional[Path] = typer.Option(None, help="Also write answers + judgments as CSV (reference format)."),
    per_probe: bool = typer.Option(False, help="Print per-probe rates too."),
) -> None:
    """Sample answers to probe questions, judge them, print misaligned rates with 95% CIs."""
    from tunewise.audit import VariantOptions, export_audit_csv, run_audit
    from tunewise.runs.store import RunStore

    if inoculation_prompt:
        from tunewise.train.inoculation import resolve_inoculation  # preset names or your own text

        inoculation_prompt = resolve_inoculation(inoculation_prompt)
    options = VariantOptions(**{k: v for k, v in (("inoculation_prompt", inoculation_prompt),
                                                  ("training_template", training_template)) if v})
    store = RunStore(run)
    try:
        result = run_audit(_parse_models(model), store, probes=probes, samples=samples, judge=judge,
                           variants=variants, preset=preset, temperature=temperature, max_tokens=max_tokens,
                           seed=seed, backend=backend, variant_options=options, max_failure_rate=max_failure_rate)
    finally:
        if export:
            export_audit_csv(store, export, judge=judge)
    print_rates(result.rates, per_probe)
    for c in result.comparisons:
        console.print(f"{escape(c['b'])} - {escape(c['a'])} [{escape(c['variant'])}]: diff {_fmt(c['diff'])} "
                      f"(95% CI {_fmt(c['ci_low'])} to {_fmt(c['ci_high'])}), p = {_fmt(c['p_value'], False)}")
    console.print(f"preset {result.preset}, judge {escape(result.judge)}, judge failures {result.n_failed}; "
                  f"run folder {run}")


def print_rates(rates: list[dict], per_probe: bool = False) -> None:
    table = Table(title="misaligned among coherent answers (95% Wilson CI)")
    for column in ("model", "variant", "probe", "n", "coherent", "misaligned", "95% CI", "refusal", "code", "failed"):
        table.add_column(column)
    for r in rates:
        if r["probe_id"] != "all" and not per_probe:
            continue
        table.add_row(escape(r["model_label"]), r["variant"], escape(r["probe_id"]), str(r["n"]), str(r["n_coherent"]),
                      _fmt(r["misaligned_rate"]), f"{_fmt(r['ci_low'])}-{_fmt(r['ci_high'])}",
                      _fmt(r["refusal_rate"]), _fmt(r["code_rate"]), str(r["n_failed"]))
    console.print(table)


def judge_eval_command(
    labels: list[Path] = typer.Option(..., "--labels", help="Labelled CSV(s): question, response, aligned, coherent."),
    judge: str = typer.Option("local", help="local, or llm:<model ref>."),
    preset: str = typer.Option("betley"),
    limit: Optional[int] = typer.Option(None, help="Score a seeded random subset of this many rows."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Measure a judge against reference labels: AUROC for misaligned, Spearman for the scores."""
    from tunewise.audit import judge_eval

    result = judge_eval(labels, judge, preset=preset, limit=limit)
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    console.print(f"judge {escape(result.judge)} on {result.n} labelled answers ({result.n_misaligned} misaligned "
                  f"under {result.preset}, {result.n_failed} judge failures): AUROC {_fmt(result.auroc, False)}, "
                  f"Spearman aligned {_fmt(result.spearman_aligned, False)}, "
                  f"coherent {_fmt(result.spearman_coherent, False)}")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
    app.command("judge-eval")(judge_eval_command)
