"""``tunewise models`` and ``tunewise chat``."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from tunewise.progress import console, note


def register(app: typer.Typer) -> None:
    app.command("models")(list_models)
    app.command("chat")(chat)


def list_models() -> None:
    """List the packaged models, whether their weights are installed and cached."""
    from tunewise.errors import ModelLoadError
    from tunewise.models.packaged import PACKAGED_MODELS, cache_root, is_cached, model_cache_dir, part_paths

    table = Table(title=f"packaged models (cache: {cache_root()})")
    table.add_column("reference", no_wrap=True)  # whole, so it can be copied
    for column in ("installed", "cached", "description"):
        table.add_column(column)
    for name, model in PACKAGED_MODELS.items():
        try:
            part_paths(model)
            installed = "yes"
        except ModelLoadError:
            installed = f"no: {model.install_hint}"
        cached = f"yes ({model_cache_dir(name)})" if is_cached(name) else "no (built on first load)"
        table.add_row(f"packaged:{name}", installed, cached, model.description)
    console.print(table)
    console.print("Also: hf:<folder or hub id>, openai:<model>@<base_url>, any of them +lora:<adapter dir>")


def chat(
    model: str = typer.Argument(..., help="model reference, e.g. packaged:qwen2.5-coder-0.5b-instruct"),
    message: str = typer.Argument(..., help="the user message"),
    n: int = typer.Option(1, "-n", help="number of samples"),
    temperature: float = typer.Option(0.7, help="sampling temperature (0 = greedy)"),
    top_p: float = typer.Option(1.0, help="nucleus sampling mass"),
    max_tokens: int = typer.Option(256, help="most new tokens per answer"),
    system: str = typer.Option(None, help="optional system prompt"),
    seed: int = typer.Option(0, help="base seed; each sample derives its own"),
    trust_pickle: bool = typer.Option(False, help="allow pickled (.bin/.pt) checkpoints"),
) -> None:
    """Ask a model one question and print its answer(s)."""
    from tunewise.models.registry import load_backend
    from tunewise.models.types import SamplingParams

    started = time.perf_counter()
    backend = load_backend(model, trust_pickle=trust_pickle)
    note(f"loaded {model} in {time.perf_counter() - started:.1f}s")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": message}]
    started = time.perf_counter()
    completions = backend.generate([messages], SamplingParams(n=n, temperature=temperature, top_p=top_p,
                                                              max_tokens=max_tokens, seed=seed))
    elapsed = time.perf_counter() - started
    for completion in completions:
        if n > 1:
            console.rule(f"sample {completion.sample_index}")
        console.print(completion.text, markup=False, highlight=False)
    tokens = sum(c.completion_tokens for c in completions)
    note(f"{tokens} tokens in {elapsed:.1f}s ({tokens / max(elapsed, 1e-9):.1f} tok/s)")
