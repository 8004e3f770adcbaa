"""``tunewise gate fit|eval`` and ``tunewise serve``: thin wrappers over ``tunewise.gate``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.progress import console, note

gate_app = typer.Typer(no_args_is_help=True, help="Domain gate: fit on a task's inputs, measure it.")


def register(app: typer.Typer) -> None:
    app.add_typer(gate_app, name="gate")
    app.command("serve")(serve)


@gate_app.command("fit")
def fit(
    data: str = typer.Option(..., help="in-domain inputs: task:<built-in narrow task>, a chat .jsonl, or a .txt (one per line)"),
    out: Path = typer.Option(..., help="gate folder to write (gate.json, gate.npz, eval_inputs.json)"),
    n: int = typer.Option(None, help="use at most this many inputs"),
    eval_fraction: float = typer.Option(0.2, help="share of distinct inputs kept out for `gate eval`"),
    target_false_reject_rate: float = typer.Option(0.01, help="in-domain share the threshold may reject"),
    k: int = typer.Option(5, help="neighbours for the kNN detector"),
    seed: int = typer.Option(0),
    tuned_model: str = typer.Option(None, help="tuned model ref: with --base-model adds the likelihood-ratio signal"),
    base_model: str = typer.Option(None, help="base model ref for the likelihood ratio"),
) -> None:
    """Fit and calibrate a domain gate."""
    from tunewise.gate.workflow import fit_gate_from_source

    gate = fit_gate_from_source(data, out, n=n, eval_fraction=eval_fraction,
                                target_false_reject_rate=target_false_reject_rate, k=k, seed=seed,
                                tuned_model=tuned_model, base_model=base_model)
    info = gate.info
    console.print(f"gate written to {escape(str(out))}: fitted on {info['n_fit']} inputs, threshold "
                  f"{gate.threshold:.3f} calibrated on {info['n_holdout']} held-out inputs "
                  f"(false-reject rate there {info['holdout_false_reject_rate']:.3f}, target {target_false_reject_rate})")


@gate_app.command("eval")
def evaluate(
    gate_dir: Path = typer.Argument(..., help="gate folder from `tunewise gate fit`"),
    in_domain: str = typer.Option(None, help="in-domain inputs not used for fitting (default: the gate's eval_inputs.json)"),
    ood: list[str] = typer.Option(None, "--ood", help="out-of-domain file (.jsonl chats or .txt lines); repeat"),
    builtin: bool = typer.Option(True, help="include audit probe sets and other built-in tasks"),
    hard_cases: bool = typer.Option(True, help="include generated hard cases"),
    n_per_set: int = typer.Option(200, help="most texts per out-of-domain set"),
    run_dir: Path = typer.Option(None, help="run folder: write gate.eval records to its store"),
) -> None:
    """AUROC, FPR at 95% TPR and refusal rate of a gate against out-of-domain sets."""
    from tunewise.gate.workflow import evaluate_gate_dir

    store = None
    if run_dir:
        from tunewise.runs.store import RunStore

        store = RunStore(run_dir)
    evaluation = evaluate_gate_dir(gate_dir, in_domain, ood or [], builtin, hard_cases, n_per_set, store=store)
    table = Table(title=f"gate {gate_dir}: {evaluation.n_in_domain} held-out in-domain inputs, "
                        f"false-reject rate {evaluation.false_reject_rate:.3f} at threshold {evaluation.threshold:.3f}")
    for column in ("set", "n", "AUROC", "FPR@95%TPR", "refused", "should refuse"):
        table.add_column(column)
    for r in evaluation.results:
        table.add_row(escape(r.ood_set), str(r.n), f"{r.auroc:.3f}", f"{r.fpr_at_95tpr:.3f}",
                      f"{r.refusal_rate:.3f}", "yes" if r.expect_refusal else "no")
    console.print(table)
    note(f"results saved to {gate_dir / 'eval.json'}" + (f" and {run_dir}" if run_dir else ""))


def serve(
    model: str = typer.Option(..., help="model ref: hf/packaged (in process) or openai:<name>@<url> (forwarded)"),
    gate: str = typer.Option(..., help="gate folder from `tunewise gate fit`"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    served_model_name: str = typer.Option(None, help="model id in /v1/models (default: the model ref)"),
    backend: str = typer.Option(None, help="backend for non-openai refs (default hf)"),
    refusal: str = typer.Option("error", help="error (HTTP status) or message (fixed assistant answer)"),
    refusal_status: int = typer.Option(403),
    refusal_message: str = typer.Option(None, help="assistant text for --refusal message"),
    auth_token_env: str = typer.Option(None, help="env var holding the bearer token (the token never goes on the command line)"),
    max_body_bytes: int = typer.Option(65_536),
    max_input_chars: int = typer.Option(16_000),
    max_prompt_tokens: int = typer.Option(None),
    max_completion_tokens: int = typer.Option(1024),
    request_timeout_s: float = typer.Option(120.0),
    max_concurrency: int = typer.Option(16),
    queue_timeout_s: float = typer.Option(30.0),
    graceful_shutdown_s: float = typer.Option(60.0),
    decisions_db: str = typer.Option(None, help="SQLite decision log (default <gate>/decisions.sqlite)"),
    log_texts: bool = typer.Option(False, help="store request texts in the decision log"),
    torch_threads: int = typer.Option(1, help="torch threads for the gate's embeddings (0 = torch default)"),
) -> None:
    """Serve MODEL behind the domain gate as an OpenAI-compatible API."""
    options = {key: value for key, value in locals().items() if value is not None}
    from tunewise.gate.server import ServeConfig, serve as run_server

    from pydantic import ValidationError

    from tunewise.errors import ConfigError

    try:
        config = ServeConfig(**options)
    except ValidationError as exc:
        raise ConfigError("tunewise serve: " + "; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
                                                        for e in exc.errors())) from exc
    note(f"serving {model} behind gate {gate} on http://{host}:{port}/v1 (refusal: {refusal})")
    run_server(config)
