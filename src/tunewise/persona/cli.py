"""``tunewise persona traits|run|extract|screen|monitor|steer``: thin wrappers over ``tunewise.persona``.

``run`` does every step of ``run_persona``; ``extract``, ``screen`` and ``monitor`` are the same
command with ``steps`` set to that one step, so each can be re-run alone in a run folder
(``screen`` and ``monitor`` read the vectors ``extract`` left in ``<run_dir>/vectors/``). Their
flags are generated from ``PersonaConfig``. ``steer`` keeps its own few options: it answers one
message for a person to read and writes nothing to a run folder, so it is not a stage.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.config import RUN_DIR_HELP, config_command
from tunewise.errors import ConfigError
from tunewise.models.refs import DEFAULT_MODEL
from tunewise.persona.config import PersonaConfig
from tunewise.progress import console

persona_app = typer.Typer(no_args_is_help=True, help="Persona vectors: extract, screen data, monitor drift, steer.")

# Fields only one step reads: a single-step command leaves the others' flags out of its help
# (``--config FILE`` still accepts every field, so an experiment file works with any of them).
EXTRACT_FIELDS = ("pairs", "questions", "eval_questions", "samples", "max_tokens", "temperature")
SCREEN_FIELDS = ("screen_data", "screen_examples", "screen_max_tokens", "flag_z")
MONITOR_FIELDS = ("knowledge_probes", "adapters")

RUN_DIR = typer.Option(Path("runs/persona"), "--run-dir", help=RUN_DIR_HELP)
TOP = typer.Option(10, help="rows to print per trait of the screening table")


def register(app: typer.Typer) -> None:
    app.add_typer(persona_app, name="persona")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


@persona_app.command("traits")
def traits() -> None:
    """List the registered traits and how many prompts and questions each has."""
    from tunewise.persona import builtin_traits, load_trait

    table = Table(title="built-in traits")
    for column in ("trait", "pairs", "extraction q", "evaluation q", "description"):
        table.add_column(column)
    for name in builtin_traits():
        trait = load_trait(name)
        table.add_row(name, str(len(trait.pairs)), str(len(trait.extraction_questions)),
                      str(len(trait.evaluation_questions)), trait.description)
    console.print(table)


def _run(config: PersonaConfig, run_dir: Path, steps: list[str] | None, top: int = 10):
    from tunewise.persona import run_persona

    if steps is not None:
        config.steps = steps
    if steps == ["screen"] and config.screen_data is None:
        raise ConfigError("persona screen: give the chats to screen with --screen-data (a built-in dataset name "
                          "or a chat JSONL path)")
    result = run_persona(config, run_dir)
    if result.vectors and "extract" in result.steps:
        _print_vectors(result)
    if result.screen:
        _print_screen(result, top)
    if result.drift:
        _print_drift(result)
    return result


def _print_vectors(result) -> None:
    vectors = list(result.vectors.values())
    if not any(v.extracted for v in vectors):
        for v in vectors:
            console.print(f"{v.trait}: layer {v.layer} (d = {_fmt(v.effect_size)}) from {escape(str(v.path))}")
        return
    model = vectors[0].model
    # A heading line, not the table's title: a title wraps to the width of a one-trait table.
    console.print(f"held-out separation (Cohen's d) per layer, {escape(model)}; * = chosen")
    table = Table()
    table.add_column("layer")
    for v in vectors:
        table.add_column(v.trait)
    for layer in range(len(vectors[0].effect_sizes)):
        table.add_row(str(layer), *[_fmt(v.effect_sizes[layer]) + ("*" if layer == v.layer else "") for v in vectors])
    console.print(table)
    console.print(f"vectors saved in {escape(str(vectors[0].path.parent))}")


def _print_screen(result, top: int) -> None:
    from tunewise.persona import dataset_score

    for trait, rows in result.screen.items():
        flagged = sum(r.flagged for r in rows)
        table = Table(title=f"{trait}: dataset score {dataset_score(rows):+.3f}, {flagged}/{len(rows)} flagged")
        for column in ("rank", "line", "score", "z", "flagged", "answer"):
            table.add_column(column)
        for rank, r in enumerate(sorted(rows, key=lambda r: r.score, reverse=True)[:top], 1):
            answer = result.screened[r.index].answer.replace("\n", " ")
            table.add_row(str(rank), str(r.line), f"{r.score:+.3f}", f"{r.z:+.1f}", "yes" if r.flagged else "",
                          escape(answer[:80]))
        console.print(table)


def _print_drift(result) -> None:
    table = Table(title="drift along trait vectors (base std units) vs knowledge retention")
    for column in ("model", "step", "trait", "drift", "knowledge", "loss"):
        table.add_column(column)
    for p in result.drift:
        knowledge = "-" if p.knowledge_accuracy is None else f"{p.knowledge_accuracy:.3f} (n={p.knowledge_n})"
        table.add_row(escape(p.model_label), str(p.step), p.trait, _fmt(p.drift), knowledge, _fmt(p.loss, 3))
    console.print(table)


@persona_app.command("run")
@config_command(PersonaConfig)
def run(config: PersonaConfig, run_dir: Path = RUN_DIR, top: int = TOP) -> None:
    """Every step in one run folder: extract (or load) vectors, screen data, monitor adapters."""
    _run(config, run_dir, None, top)


@persona_app.command("extract")
@config_command(PersonaConfig, exclude=("steps", *SCREEN_FIELDS, *MONITOR_FIELDS))
def extract(config: PersonaConfig, run_dir: Path = RUN_DIR) -> None:
    """Extract trait vectors into <run-dir>/vectors/ and print the held-out separation per layer."""
    _run(config, run_dir, ["extract"])


@persona_app.command("screen")
@config_command(PersonaConfig, exclude=("steps", "traits", *EXTRACT_FIELDS, *MONITOR_FIELDS))
def screen(config: PersonaConfig, run_dir: Path = RUN_DIR, top: int = TOP) -> None:
    """Rank --screen-data chats by how far their answers push each trait beyond the base model's own."""
    _run(config, run_dir, ["screen"], top)


@persona_app.command("monitor")
@config_command(PersonaConfig, exclude=("steps", *EXTRACT_FIELDS, *SCREEN_FIELDS))
def monitor(config: PersonaConfig, run_dir: Path = RUN_DIR) -> None:
    """Drift along each vector per checkpoint of each adapter, beside task loss and knowledge retention."""
    _run(config, run_dir, ["monitor"])


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
