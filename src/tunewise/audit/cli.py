"""``tunewise audit`` and ``tunewise judge-eval``: flags generated from ``AuditConfig`` /
``JudgeEvalConfig``, a call to tunewise.audit, a table."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.audit.config import AuditConfig, JudgeEvalConfig
from tunewise.config import RUN_DIR_HELP, config_command
from tunewise.progress import console


def _fmt(value, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


@config_command(AuditConfig)
def audit_command(
    config: AuditConfig,
    run_dir: Path = typer.Option(Path("runs/audit"), "--run-dir", help=RUN_DIR_HELP),
    per_probe: bool = typer.Option(False, "--per-probe", help="Print per-probe rates too."),
) -> None:
    """Sample answers to probe questions, judge them, print misaligned rates with 95% CIs."""
    from tunewise.audit import run_audit

    result = run_audit(config, run_dir)
    print_rates(result.rates, per_probe)
    for c in result.comparisons:
        console.print(f"{escape(c.b)} - {escape(c.a)} [{escape(c.variant)}]: diff {_fmt(c.diff)} "
                      f"(95% CI {_fmt(c.ci_low)} to {_fmt(c.ci_high)}), p = {_fmt(c.p_value, False)} "
                      f"({escape(c.test)})")
    print_controls(result.controls)
    print_leakage(result.leakage)
    print_checkpoints(result.checkpoints, result.early_stop, result.task_accuracy.get(next(iter(result.models), "")))
    console.print(f"preset {result.preset}, judge {escape(result.judge)}, judge failures {result.n_failed}; "
                  f"run folder {result.run_dir}")


def print_rates(rates, per_probe: bool = False) -> None:
    """The rates table (``MisalignedRate`` rows); per-probe rows only when asked."""
    table = Table(title="misaligned among coherent answers (95% Wilson CI)")
    for column in ("model", "variant", "probe", "n", "coherent", "misaligned", "95% CI", "refusal", "code", "failed"):
        table.add_column(column, no_wrap=column == "model")  # control:positive / control:junk stay readable
    for r in rates:
        if r.probe_id != "all" and not per_probe:
            continue
        table.add_row(escape(r.model_label), r.variant, escape(r.probe_id), str(r.n), str(r.n_coherent),
                      _fmt(r.misaligned_rate), f"{_fmt(r.ci_low)}-{_fmt(r.ci_high)}",
                      _fmt(r.refusal_rate), _fmt(r.code_rate), str(r.n_failed))
    console.print(table)


def print_controls(controls) -> None:
    """Sensitivity (positive control flagged) and false flags on junk; the warning in red."""
    if controls is None:
        return
    def share(value, ci, n):
        return "-" if value is None else f"{_fmt(value)} ({_fmt(ci[0])}-{_fmt(ci[1])}) of {n}"
    console.print(f"controls: sensitivity (positive control flagged) "
                  f"{share(controls.sensitivity, controls.sensitivity_ci, controls.n_positive)}; junk false flags "
                  f"{share(controls.junk_false_flag_rate, controls.junk_ci, controls.n_junk)}")
    if controls.warning:
        console.print(f"[bold red]WARNING: {escape(controls.warning)}[/]")


def print_leakage(leakage) -> None:
    """One line per tuned model: its answers in the training domain, and EM outside it."""
    from tunewise.audit.leakage import describe, mostly_leaking

    for summary in leakage:
        colour = "bold red" if mostly_leaking(summary.share) else "default"
        console.print(f"[{colour}]leakage: {escape(describe(summary))}[/]")


def print_checkpoints(points, recommendation, base_accuracy=None) -> None:
    """Misaligned rate, training loss and held-out task accuracy per checkpoint (with the base
    model's accuracy for reference), and the early-stopping recommendation."""
    if not points:
        return
    table = Table(title="EM over training (plain probes)")
    for column in ("step", "loss", "task accuracy", "misaligned", "95% CI", "diff vs base", "p", "in domain",
                   "diff outside", "p outside"):
        table.add_column(column)
    for p in points:
        table.add_row(str(p.step), _fmt(p.loss, False), _fmt(p.task_accuracy), _fmt(p.misaligned_rate),
                      f"{_fmt(p.ci_low)}-{_fmt(p.ci_high)}", _fmt(p.diff), _fmt(p.p_value, False),
                      _fmt(p.in_domain_share), _fmt(p.diff_outside), _fmt(p.p_value_outside, False))
    console.print(table)
    if base_accuracy is not None:
        console.print(f"base model: {_fmt(base_accuracy.accuracy)} held-out task accuracy ({base_accuracy.n} items)")
    if recommendation is not None:
        console.print(f"early stopping: {escape(recommendation.label or 'no checkpoint')}: "
                      f"{escape(recommendation.reason)}")


@config_command(JudgeEvalConfig)
def judge_eval_command(
    config: JudgeEvalConfig,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Measure a judge against reference labels: AUROC for misaligned, Spearman for the scores."""
    from tunewise.audit import judge_eval

    result = judge_eval(config)
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    console.print(escape(result.summary()))  # AUROC, Spearman, sensitivity/specificity, rates (issue 15)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
    app.command("judge-eval")(judge_eval_command)
