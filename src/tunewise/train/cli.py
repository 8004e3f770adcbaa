"""``tunewise train``: flags generated from ``TrainConfig``; the work is ``run_train``."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.config import RUN_DIR_HELP, config_command
from tunewise.train.config import TrainConfig


@config_command(TrainConfig)
def train(config: TrainConfig,
          run_dir: Path = typer.Option(Path("runs/train"), "--run-dir", help=RUN_DIR_HELP)) -> None:
    from tunewise.progress import console
    from tunewise.train.run import run_train

    result = run_train(config, run_dir)
    losses = result.losses
    first, last = (losses[0][1], losses[-1][1]) if losses else (float("nan"), float("nan"))
    console.print(f"trained {result.steps} steps on {result.n_examples} chats (+{result.n_replay} replay) "
                  f"in {result.wall_s:.0f} s, {result.tokens_per_s:.0f} tok/s; loss {first:.3f} -> {last:.3f}")
    console.print(f"adapter: {result.adapter_dir}  (use {config.model}+lora:{result.adapter_dir})")
    typer.echo(str(result.adapter_dir))


def register(app: typer.Typer) -> None:
    from tunewise.registry import DATASETS
    from tunewise.train.inoculation import PRESETS

    app.command("train", help=(
        "LoRA fine-tune a model on a built-in narrow dataset or a chat JSONL file into "
        "<run-dir>/adapters/<variant>; resumable (re-run the same command after an interruption). "
        f"Built-in datasets: {', '.join(DATASETS.names())}. Inoculation presets: {', '.join(PRESETS)} "
        "(or any text; --inoculation '{prompt: NAME, placement: user_suffix, fraction: 0.5}' for the rest)."))(train)
