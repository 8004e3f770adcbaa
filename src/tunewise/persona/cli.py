"""``tunewise persona traits|extract|monitor|screen|steer``: thin wrappers over ``tunewise.persona``."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.models.refs import DEFAULT_MODEL
from tunewise.progress import console

persona_app = typer.Typer(no_args_is_help=True, help="Persona vectors: extract, monitor drift, screen data, steer.")


def register(app: typer.Typer) -> None:
    app.add_typer(persona_app, name="persona")


def _store(run_dir: Path | None):
    from tunewise.runs.store import RunStore

    return RunStore(run_dir) if run_dir else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


@persona_app.command("traits")
def traits() -> None:
    """List the built-in traits and how many prompts and questions each has."""
    from tunewise.persona import builtin_traits, load_trait

    table = Table(title="built-in traits")
    for column in ("trait", "pairs", "extraction q", "evaluation q", "description"):
        table.add_column(column)
    for name in builtin_traits():
        trait = load_trait(name)
        table.add_row(name, str(len(trait.pairs)), str(len(trait.extraction_questions)),
                      str(len(trait.evaluation_questions)), trait.description)
    console.print(table)


@persona_app.command("extract")
def extract(
    model: str = typer.Option(DEFAULT_MODEL, help="model reference (hf backend)"),
    trait: list[str] = typer.Option(None, "--trait", help="built-in trait name or trait YAML path; repeat; default all built-in"),
    out: Path = typer.Option(Path("vectors"), help="folder for <trait>.safetensors"),
    run_dir: Path = typer.Option(None, help="run folder: answers cached for resume, persona.layer records written"),
    pairs: int = typer.Option(2, help="prompt pairs per trait (0 = all)"),
    questions: int = typer.Option(6, help="extraction questions per trait (0 = all)"),
    eval_questions: int = typer.Option(6, help="held-out questions for choosing the layer (0 = all)"),
    samples: int = typer.Option(1, help="answers per prompt and question"),
    max_tokens: int = typer.Option(48, help="most new tokens per answer"),
    temperature: float = typer.Option(0.7, help="sampling temperature"),
    seed: int = typer.Option(0, help="base seed"),
    batch_size: int = typer.Option(16, help="sequences per forward pass"),
) -> None:
    """Extract trait vectors and print the held-out separation (Cohen's d) per layer."""
    from tunewise.models.hf import HFBackend
    from tunewise.persona import ExtractionBudget, builtin_traits, extract_vectors

    budget = ExtractionBudget(pairs=pairs or None, questions=questions or None, eval_questions=eval_questions or None,
                              samples=samples, max_tokens=max_tokens, temperature=temperature, seed=seed)
    backend = HFBackend(model, batch_size=batch_size)
    vectors = extract_vectors(backend, list(trait or builtin_traits()), budget, store=_store(run_dir), out_dir=out)
    table = Table(title=f"held-out separation (Cohen's d) per layer, {escape(model)}; * = chosen")
    table.add_column("layer")
    for name in vectors:
        table.add_column(name)
    for layer in range(next(iter(vectors.values())).vectors.shape[0]):
        table.add_row(str(layer), *[_fmt(float(v.effect_sizes[layer])) + ("*" if layer == v.layer else "")
                                    for v in vectors.values()])
    console.print(table)


@persona_app.command("monitor")
def monitor(
    vectors: Path = typer.Option(..., help="vector file or folder of them"),
    run: list[str] = typer.Option(..., "--run", help="LABEL=TRAIN_OUT_DIR (or adapter dir); repeat"),
    base: str = typer.Option(DEFAULT_MODEL, help="the base model the adapters were trained on"),
    run_dir: Path = typer.Option(None, help="run folder: persona.drift records (resume) and train.run losses"),
    probe_set: str = typer.Option("factual", help="knowledge probe set, or 'none' to skip knowledge retention"),
) -> None:
    """Drift along each vector per checkpoint, beside task loss and knowledge retention."""
    from tunewise.errors import ConfigError
    from tunewise.persona import load_vectors, monitor_drift

    runs = {}
    for item in run:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            raise ConfigError(f"--run {item!r}: expected LABEL=FOLDER")
        runs[label] = folder
    points = monitor_drift(base, runs, load_vectors(vectors), store=_store(run_dir),
                           probe_set=None if probe_set == "none" else probe_set)
    table = Table(title="drift along trait vectors (base std units) vs knowledge retention")
    for column in ("model", "step", "trait", "drift", "knowledge", "loss"):
        table.add_column(column)
    for p in points:
        knowledge = "-" if p.knowledge_accuracy is None else f"{p.knowledge_accuracy:.3f} (n={p.knowledge_n})"
        table.add_row(escape(p.model_label), str(p.step), p.trait, _fmt(p.drift), knowledge, _fmt(p.loss, 3))
    console.print(table)


@persona_app.command("screen")
def screen(
    data: Path = typer.Argument(..., help="chat JSONL training file"),
    vectors: Path = typer.Option(..., help="vector file or folder of them"),
    model: str = typer.Option(DEFAULT_MODEL, help="the base model you plan to tune"),
    run_dir: Path = typer.Option(None, help="run folder: base answers cached, persona.screen records written"),
    max_tokens: int = typer.Option(64, help="most new tokens per base answer"),
    flag_z: float = typer.Option(3.0, help="flag examples whose robust z-score is at least this"),
    top: int = typer.Option(10, help="rows to print per trait"),
    batch_size: int = typer.Option(16, help="sequences per forward pass"),
) -> None:
    """Rank training examples by how far their answers push each trait beyond the base model's own."""
    from tunewise.data.chat import load_chat_jsonl
    from tunewise.models.hf import HFBackend
    from tunewise.persona import dataset_score, load_vectors, screen_examples

    examples = load_chat_jsonl(data)
    results = screen_examples(HFBackend(model, batch_size=batch_size), examples, load_vectors(vectors),
                              store=_store(run_dir), max_tokens=max_tokens, flag_z=flag_z)
    for trait, rows in results.items():
        flagged = sum(r.flagged for r in rows)
        table = Table(title=f"{trait}: dataset score {dataset_score(rows):+.3f}, {flagged}/{len(rows)} flagged")
        for column in ("rank", "line", "score", "z", "flagged", "answer"):
            table.add_column(column)
        for rank, r in enumerate(sorted(rows, key=lambda r: r.score, reverse=True)[:top], 1):
            answer = examples[r.index].answer.replace("\n", " ")
            table.add_row(str(rank), str(r.line), f"{r.score:+.3f}", f"{r.z:+.1f}", "yes" if r.flagged else "",
                          escape(answer[:80]))
        console.print(table)


@persona_app.command("steer")
def steer(
    message: str = typer.Argument(..., help="the user message"),
    vector: Path = typer.Option(..., help="vector file (.safetensors)"),
    alpha: float = typer.Option(4.0, help="coefficient: positive adds the trait, negative removes it"),
    layer: int = typer.Option(None, help="layer to steer (default: the vector's chosen layer)"),
    model: str = typer.Option(DEFAULT_MODEL, help="model reference (hf backend)"),
    n: int = typer.Option(1, "-n", help="samples"),
    temperature: float = typer.Option(0.7, help="sampling temperature (0 = greedy)"),
    max_tokens: int = typer.Option(96, help="most new tokens per answer"),
    seed: int = typer.Option(0, help="base seed (the same seeds are used with and without steering)"),
) -> None:
    """Answer a message without and with steering, side by side."""
    from tunewise.models.hf import HFBackend
    from tunewise.models.types import SamplingParams
    from tunewise.persona import TraitVector, steering

    trait_vector = TraitVector.load(vector)
    backend = HFBackend(model)
    chats = [[{"role": "user", "content": message}]]
    params = SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    plain = backend.generate(chats, params)
    with steering(backend, trait_vector, layer=layer, alpha=alpha):
        steered = backend.generate(chats, params)
    used = trait_vector.layer if layer is None else layer
    for a, b in zip(plain, steered):
        console.rule(f"sample {a.sample_index}: unsteered")
        console.print(a.text, markup=False, highlight=False)
        console.rule(f"sample {b.sample_index}: {trait_vector.trait} x {alpha:+g} at layer {used}")
        console.print(b.text, markup=False, highlight=False)
