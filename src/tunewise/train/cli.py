"""``tunewise train``: flags mirror ``TrainConfig`` fields; the work is ``train_lora``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tunewise.errors import ConfigError


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def build_config(config_file: Path | None, overrides: dict):
    """TrainConfig from an optional YAML file (top level or under ``train:``) plus the flags the
    user gave (flags win). Unset flags fall back to TrainConfig's defaults, so defaults live in
    one place."""
    import yaml
    from pydantic import ValidationError

    from tunewise.train.config import TrainConfig

    values: dict = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{config_file}: cannot read YAML: {exc}") from None
        values = loaded.get("train", loaded) if isinstance(loaded, dict) else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid training configuration{f' in {config_file}' if config_file else ''}: "
                          f"{problems}") from None


def register(app: typer.Typer) -> None:
    from tunewise.data.tasks.narrow import NARROW_DATASETS
    from tunewise.train.inoculation import PRESETS

    @app.command("train", help=(
        "LoRA fine-tune a model on a built-in narrow dataset or a chat JSONL file; resumable "
        "(re-run the same command after an interruption). Built-in datasets: "
        f"{', '.join(NARROW_DATASETS)}. Inoculation presets: {', '.join(PRESETS)} (or any text)."))
    def train_command(
        out: Path = typer.Option(..., "--out", help="output folder (adapter/, checkpoints/, ...)"),
        model: Optional[str] = typer.Option(None, help="base model reference [default: packaged 0.5B coder]"),
        data: Optional[str] = typer.Option(None, help="built-in dataset name or chat JSONL path [default: insecure-code]"),
        config: Optional[Path] = typer.Option(None, "--config", help="YAML with TrainConfig fields (flags override)"),
        max_examples: Optional[int] = typer.Option(None, help="use only the first N chats"),
        variant: Optional[str] = typer.Option(None, help="label of the run in the store [default: plain]"),
        inoculation: Optional[str] = typer.Option(None, help="preset name or custom text added to training chats only"),
        placement: str = typer.Option("system", help="system | user_prefix | user_suffix"),
        inoculation_fraction: float = typer.Option(1.0, help="share of training chats that carry the prompt"),
        epochs: Optional[int] = typer.Option(None),
        max_steps: Optional[int] = typer.Option(None),
        batch_size: Optional[int] = typer.Option(None),
        grad_accum: Optional[int] = typer.Option(None),
        lr: Optional[float] = typer.Option(None),
        lr_schedule: Optional[str] = typer.Option(None, help="constant | linear"),
        warmup_steps: Optional[int] = typer.Option(None),
        max_length: Optional[int] = typer.Option(None),
        lora_rank: Optional[int] = typer.Option(None),
        lora_alpha: Optional[float] = typer.Option(None),
        lora_targets: Optional[str] = typer.Option(None, help="all-linear or comma-separated module names"),
        lora_layers: Optional[str] = typer.Option(None, help="comma-separated decoder layer indices"),
        rslora: Optional[bool] = typer.Option(None, "--rslora/--no-rslora"),
        replay_ratio: Optional[float] = typer.Option(None, help="base-model self-answers per task chat"),
        replay_max_tokens: Optional[int] = typer.Option(None),
        replay_temperature: Optional[float] = typer.Option(None, help="0 = base model's greedy answers"),
        kl_weight: Optional[float] = typer.Option(None, help="KL-to-base penalty on replay answers"),
        checkpoint_every: Optional[int] = typer.Option(None),
        keep_checkpoints: Optional[int] = typer.Option(None),
        seed: Optional[int] = typer.Option(None),
        device: Optional[str] = typer.Option(None),
        dtype: Optional[str] = typer.Option(None),
        merge: Optional[bool] = typer.Option(None, "--merge/--no-merge", help="also export a merged model"),
        run: Optional[Path] = typer.Option(None, help="run folder whose store gets train.step/train.run records"),
    ) -> None:
        from tunewise.progress import console
        from tunewise.train.loop import train_lora

        targets = lora_targets if lora_targets in (None, "all-linear") else _split(lora_targets)
        layers = [int(x) for x in _split(lora_layers)] if lora_layers else None
        overrides = dict(model=model, data=data, max_examples=max_examples, variant=variant, epochs=epochs,
                         max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                         lr_schedule=lr_schedule, warmup_steps=warmup_steps, max_length=max_length,
                         lora_rank=lora_rank, lora_alpha=lora_alpha, lora_targets=targets, lora_layers=layers,
                         rslora=rslora, replay_ratio=replay_ratio, replay_max_tokens=replay_max_tokens,
                         replay_temperature=replay_temperature,
                         kl_weight=kl_weight, checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                         seed=seed, device=device, dtype=dtype, merge=merge)
        if inoculation:
            overrides["inoculation"] = {"prompt": inoculation, "placement": placement,
                                        "fraction": inoculation_fraction}
            if variant is None:
                overrides["variant"] = "inoculated"
        train_config = build_config(config, overrides)
        store = None
        if run is not None:
            from tunewise.runs.store import RunStore

            store = RunStore(run)
        try:
            result = train_lora(train_config, out, store=store)
        finally:
            if store is not None:
                store.close()
        losses = result.losses
        first, last = (losses[0][1], losses[-1][1]) if losses else (float("nan"), float("nan"))
        console.print(f"trained {result.steps} steps on {result.n_examples} chats (+{result.n_replay} replay) "
                      f"in {result.wall_s:.0f} s, {result.tokens_per_s:.0f} tok/s; loss {first:.3f} -> {last:.3f}")
        console.print(f"adapter: {result.adapter_dir}  (use {train_config.model}+lora:{result.adapter_dir})")
        typer.echo(str(result.adapter_dir))
