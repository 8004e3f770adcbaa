"""``tunewise gate fit|eval`` and ``tunewise serve``: flags generated from ``GateConfig`` and
``ServeConfig``, each command one call to ``run_gate`` / ``run_serve`` and a print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.config import RUN_DIR_HELP, config_command
from tunewise.gate.config import GateConfig
from tunewise.gate.serving import ServeConfig
from tunewise.progress import console, note

gate_app = typer.Typer(no_args_is_help=True, help="Domain gate: fit on a task's inputs, measure it.")

RUN_DIR = typer.Option(Path("runs/gate"), "--run-dir", help=RUN_DIR_HELP + "; the gate is <run-dir>/gate")


def register(app: typer.Typer) -> None:
    app.add_typer(gate_app, name="gate")
    app.command("serve")(serve)


def print_fit(result) -> None:
    how = ("out-of-fold scores of" if result.calibration == "cross-fit" else "held-out")
    interval = (f", 95% CI [{result.false_reject_rate_ci[0]:.3f}, {result.false_reject_rate_ci[1]:.3f}]"
                if result.false_reject_rate_ci else "")
    expected = (f"; expected on fresh inputs {result.expected_false_reject_rate:.3f}"
                if result.expected_false_reject_rate is not None else "")
    console.print(f"gate written to {escape(str(result.gate_dir))}: fitted on {result.n_fit} inputs, threshold "
                  f"{result.threshold:.3f} calibrated on {how} {result.n_calibration} inputs (false-reject rate "
                  f"there {result.calibration_false_reject_rate:.3f}{interval}, target "
                  f"{result.target_false_reject_rate}{expected}); {result.n_eval} more kept for `gate eval`")
    if result.calibration_warning:
        console.print(f"[yellow]warning: {escape(result.calibration_warning)}[/yellow]")


def print_evaluation(result) -> None:
    evaluation = result.evaluation
    table = Table(title=f"gate {escape(str(result.gate_dir))}: {evaluation.n_in_domain} held-out in-domain inputs, "
                        f"false-reject rate {evaluation.false_reject_rate:.3f} at threshold {evaluation.threshold:.3f}")
    for column in ("set", "n", "AUROC", "FPR@95%TPR", "refused", "should refuse"):
        table.add_column(column)
    for r in evaluation.results:
        table.add_row(escape(r.ood_set), str(r.n), f"{r.auroc:.3f}", f"{r.fpr_at_95tpr:.3f}",
                      f"{r.refusal_rate:.3f}", "yes" if r.expect_refusal else "no")
    console.print(table)


@gate_app.command("fit")
@config_command(GateConfig, exclude=("steps",))
def fit(config: GateConfig, run_dir: Path = RUN_DIR) -> None:
    """Fit and calibrate a domain gate (writes <run-dir>/gate: gate.json, gate.npz, eval_inputs.json)."""
    from tunewise.gate.runner import run_gate

    print_fit(run_gate(config.model_copy(update={"steps": ["fit"]}), run_dir))


@gate_app.command("eval")
@config_command(GateConfig, exclude=("steps",))
def evaluate(config: GateConfig, run_dir: Path = RUN_DIR) -> None:
    """AUROC, FPR at 95% TPR and refusal rate of the gate in <run-dir>/gate against out-of-domain sets."""
    from tunewise.gate.runner import run_gate

    result = run_gate(config.model_copy(update={"steps": ["eval"]}), run_dir)
    print_evaluation(result)
    note(f"results saved to {result.gate_dir / 'eval.json'} and {run_dir} (gate.eval records)")


@config_command(ServeConfig)
def serve(config: ServeConfig, run_dir: Path = typer.Option(
        Path("runs/gate"), "--run-dir", help=RUN_DIR_HELP + "; without --gate the gate is <run-dir>/gate")) -> None:
    """Serve MODEL behind the domain gate as an OpenAI-compatible API."""
    from tunewise.gate.serving import resolve_gate, run_serve

    config = resolve_gate(config, run_dir)
    note(f"serving {config.public_model_name()} behind gate {config.gate} on http://{config.host}:{config.port}/v1 "
         f"(refusal: {config.refusal})")
    run_serve(config, run_dir)
