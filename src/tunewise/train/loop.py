"""``train_lora``: the one training loop (readable top to bottom, nanoGPT-style).

``run_train`` (train/run.py) is the entry point; it picks the adapter folder in the run folder
and calls this with it. Call ``train_lora`` directly only to train into a folder of your own.

Order of work: load the base model -> build the chats (data, inoculation, replay) -> tokenize
with assistant-only labels -> wrap with LoRA -> resume from the newest checkpoint if there is one
-> for each optimizer step: take the step's chats from a seeded per-epoch permutation, run the
micro-batches, clip, step, log, checkpoint -> save the final adapter and the run record.

Determinism: the data order is a function of (seed, epoch) only and the step number says where
in it we are, so a resumed run sees exactly the chats an uninterrupted one would; LoRA weights,
optimizer state and RNG come back from the checkpoint. On CPU the resumed adapter equals the
uninterrupted one bit for bit (tests/train/test_resume.py).

Scale-out: the model and objective go through ``accelerate.Accelerator.prepare``; under
``accelerate launch`` each process takes its share of every step's chats, gradients are
averaged by DDP, and only the main process writes files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from tunewise.data.chat import ChatExample
from tunewise.errors import ConfigError
from tunewise.progress import console, note
from tunewise.train.checkpoint import (list_checkpoints, load_newest_intact, prune_checkpoints, read_state,
                                       save_checkpoint)
from tunewise.train.config import TrainConfig, optimizer_steps
from tunewise.train.inoculation import apply_inoculation, resolve_inoculation
from tunewise.train.objective import AnswerLoss
from tunewise.train.replay import build_replay
from tunewise.train.result import TrainResult
from tunewise.train.tokens import TokenizedChat, collate, tokenize_all

RESULT_FILE = "train_result.json"
CONFIG_FILE = "train_config.json"
_FRESH_FOLDER = ("give another --run-dir or --variant (the adapter folder is <run_dir>/adapters/<variant>), "
                 "or delete that folder to start over")


def load_training_examples(config: TrainConfig) -> list[ChatExample]:
    """The task chats ``config.data`` names: a built-in dataset or a chat JSONL file."""
    from tunewise.data.tasks.narrow import load_task_chats

    return load_task_chats(config.data, n=config.max_examples, seed=config.seed)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The chat order of one epoch: a function of (seed, epoch) alone, so resuming needs only
    the step number."""
    order = list(range(n))
    random.Random(f"tunewise-train:{seed}:{epoch}").shuffle(order)
    return order


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """Linear warm-up, then constant or linear decay to zero (as TRL's default schedule)."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.lr
    remaining = max(total_steps - config.warmup_steps, 1)
    return config.lr * max(0.0, 1.0 - (step - config.warmup_steps) / remaining)


def _lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_targets, layers_to_transform=config.lora_layers,
                      use_rslora=config.rslora, bias="none", task_type="CAUSAL_LM")


def _data_fingerprint(chats: list[TokenizedChat]) -> str:
    digest = hashlib.sha256()
    for chat in chats:
        digest.update(json.dumps([chat.input_ids, chat.labels, chat.replay]).encode())
    return digest.hexdigest()[:16]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _accelerator(config: TrainConfig):
    from accelerate import Accelerator

    return Accelerator(cpu=(config.device or "").startswith("cpu"))


def _examples_fingerprint(examples: list[ChatExample]) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.messages, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _check_out_dir(out_dir: Path, config: TrainConfig, examples_fingerprint: str) -> TrainResult | None:
    """A finished run of the same config is returned as is; a run (finished or checkpointed) with
    another config is refused rather than silently mixed with this one."""
    result = out_dir / RESULT_FILE
    if result.exists():
        data = json.loads(result.read_text())
        if data.get("config_fingerprint") != config.fingerprint() or \
                data.get("examples_fingerprint") != examples_fingerprint:
            raise ConfigError(f"{out_dir} holds a finished training run with a different configuration or data "
                              f"(see {out_dir / CONFIG_FILE}); {_FRESH_FOLDER}")
        return TrainResult.from_json(data)
    newest = next(((folder, state) for _, folder in reversed(list_checkpoints(out_dir))
                   if (state := read_state(folder)) is not None), None)
    if newest:
        folder, state = newest
        if state.get("config_fingerprint") != config.fingerprint():
            raise ConfigError(f"{folder} is a checkpoint of a run with a different configuration; {_FRESH_FOLDER}")
    return None


def _save_final_adapter(peft_model, out_dir: Path) -> Path:
    final = out_dir / "adapter"
    tmp = out_dir / "adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(str(tmp), safe_serialization=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _progress(total: int, done: int, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                   TextColumn("{task.fields[tok_s]} tok/s"), TimeElapsedColumn(), TextColumn("eta"),
                   TimeRemainingColumn(), console=console, disable=not enabled)
    task = bar.add_task("training", total=total, completed=done, loss="-", tok_s="-")
    return bar, task


def train_lora(config: TrainConfig, out_dir: str | Path, store=None, examples: list[ChatExample] | None = None,
               show_progress: bool = True) -> TrainResult:
    """Fine-tune ``config.model`` with LoRA on ``examples`` (or ``config.data``) into ``out_dir``.

    Re-running the same call after an interruption resumes from the newest checkpoint in
    ``out_dir/checkpoints``; re-running a finished call returns its result without training.
    With ``store`` (a ``RunStore``), each step's loss goes in as a ``train.step`` record and the
    run as a ``train.run`` record (payload keys in docs/train.md).
    """
    from peft import get_peft_model

    from tunewise.models.loading import load_causal_lm

    out_dir = Path(out_dir)
    task = list(examples) if examples is not None else load_training_examples(config)
    if examples is not None and config.max_examples:
        task = task[:config.max_examples]
    if not task:
        raise ConfigError("no training examples")
    examples_fingerprint = _examples_fingerprint(task)
    done = _check_out_dir(out_dir, config, examples_fingerprint)
    if done is not None:
        note(f"{out_dir}: training already finished; reusing {done.adapter_dir}")
        _record_run(store, config, done)
        return done
    accelerator = _accelerator(config)
    main = accelerator.is_main_process
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_FILE).write_text(json.dumps({"fingerprint": config.fingerprint(),
                                                       "config": config.model_dump()}, indent=2))
    _seed_everything(config.seed)
    # auto trains in float32 on every CPU (as documented): sampling's auto picks bf16 on CPUs with
    # native bf16, but LoRA weights and AdamW state in bf16 would lose the small updates.
    on_cpu = accelerator.device.type == "cpu"
    model, tokenizer = load_causal_lm(config.model, device=str(accelerator.device),
                                      dtype="float32" if config.dtype == "auto" and on_cpu else config.dtype)

    # ---- the chats: task data (+ inoculation) and replay -------------------------------------
    if config.inoculation:
        task = apply_inoculation(task, config.inoculation.prompt, config.inoculation.placement,
                                 config.inoculation.fraction)
    n_replay = round(config.replay_ratio * len(task))
    if n_replay and not main:
        accelerator.wait_for_everyone()  # the main process writes the replay cache first
    replay = build_replay(model, tokenizer, config.model, out_dir / "replay.jsonl", n_replay,
                          config.replay_max_tokens, seed=config.seed, temperature=config.replay_temperature)
    if n_replay and main:
        accelerator.wait_for_everyone()
    chats, dropped = tokenize_all(tokenizer, task + replay, config.max_length)
    if dropped:
        note(f"{dropped} chat(s) dropped: no answer token left within max_length={config.max_length}")
    if not chats:
        raise ConfigError(f"every chat lost its answer to max_length={config.max_length}; raise max_length")
    data_fingerprint = _data_fingerprint(chats)

    # ---- model, optimizer, resume --------------------------------------------------------------
    torch.manual_seed(config.seed)  # LoRA's A matrices are initialised from the global generator
    peft_model = get_peft_model(model, _lora_config(config))
    peft_model.train()
    objective = AnswerLoss(peft_model, kl_weight=config.kl_weight)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    prepared_objective, prepared_optimizer = accelerator.prepare(objective, optimizer)

    world, rank = accelerator.num_processes, accelerator.process_index
    per_step = config.batch_size * config.grad_accum * world
    steps_per_epoch = math.ceil(len(chats) / per_step)
    total_steps = optimizer_steps(len(chats), config.batch_size, config.grad_accum, config.epochs,
                                  config.max_steps, world)

    start_step, losses, kls, tokens_before, elapsed_before, resumed_from = 0, [], [], 0, 0.0, None
    resumed, skipped = load_newest_intact(out_dir, peft_model, optimizer)
    for reason in skipped:
        console.print(f"[yellow]skipped a damaged checkpoint, resuming from an older one:[/yellow] {reason}")
    if resumed:
        step, folder, state = resumed
        if state.get("data_fingerprint") != data_fingerprint:
            raise ConfigError(f"{folder} was trained on different data; {_FRESH_FOLDER}")
        start_step, resumed_from = step, step
        losses = [tuple(x) for x in state["losses"]]
        kls = [tuple(x) for x in state.get("kl", [])]
        tokens_before, elapsed_before = state["tokens_seen"], state["elapsed_s"]
        note(f"resuming from {folder} (step {step} of {total_steps})")

    # ---- the loop --------------------------------------------------------------------------------
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tokens_seen, loop_start = 0, time.perf_counter()
    orders: dict[int, list[int]] = {}
    bar, bar_task = _progress(total_steps, start_step, show_progress and main)
    with bar:
        for step in range(start_step, total_steps):
            epoch, index_in_epoch = divmod(step, steps_per_epoch)
            order = orders.setdefault(epoch, epoch_order(len(chats), config.seed, epoch))
            step_ids = order[index_in_epoch * per_step:(index_in_epoch + 1) * per_step]
            step_answer_tokens = sum(chats[i].answer_tokens for i in step_ids)
            mine = sorted((chats[i] for i in step_ids[rank::world]), key=lambda c: len(c.input_ids))
            micro = [mine[j:j + config.batch_size] for j in range(0, len(mine), config.batch_size)]
            for group in prepared_optimizer.param_groups:
                group["lr"] = learning_rate(config, step, total_steps)
            ce_total = torch.zeros((), device=accelerator.device)
            kl_total = torch.zeros((), device=accelerator.device)
            for m, chunk in enumerate(micro):
                batch = {k: v.to(accelerator.device) for k, v in collate(chunk, pad_id).items()}
                sync = nullcontext() if m == len(micro) - 1 else accelerator.no_sync(prepared_objective)
                with sync:
                    ce, kl, _ = prepared_objective(**batch)
                    # normalise by the whole step's answer tokens (all micro-batches, all processes):
                    # the gradient does not depend on how the step was split; DDP averages over processes
                    loss = (ce + config.kl_weight * kl) * world / step_answer_tokens
                    accelerator.backward(loss)
                ce_total += ce.detach()
                kl_total += kl.detach()
                tokens_seen += int(batch["attention_mask"].sum())
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            prepared_optimizer.step()
            prepared_optimizer.zero_grad(set_to_none=True)

            step_loss = float(accelerator.reduce(ce_total, "sum")) / step_answer_tokens
            losses.append((step + 1, step_loss))
            if config.kl_weight > 0:
                kls.append((step + 1, float(accelerator.reduce(kl_total, "sum")) / step_answer_tokens))
            elapsed = time.perf_counter() - loop_start
            tok_s = tokens_seen * world / elapsed if elapsed > 0 else 0.0
            bar.update(bar_task, advance=1, loss=f"{step_loss:.3f}", tok_s=f"{tok_s:.0f}")
            if main and store is not None:
                store.put_record("train.step", f"{config.variant}:{step + 1}",
                                 {"variant": config.variant, "step": step + 1, "loss": step_loss,
                                  "lr": learning_rate(config, step, total_steps), "tokens_per_s": tok_s,
                                  "kl": kls[-1][1] if config.kl_weight > 0 else None})
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == total_steps:
                if main:
                    save_checkpoint(out_dir, step + 1, peft_model, optimizer, {
                        "data_fingerprint": data_fingerprint, "config_fingerprint": config.fingerprint(),
                        "data_position": {"epoch": epoch, "step_in_epoch": index_in_epoch + 1,
                                          "chats_seen": min((step + 1) * per_step, len(chats) * config.epochs)},
                        "losses": losses, "kl": kls, "tokens_seen": tokens_before + tokens_seen * world,
                        "elapsed_s": elapsed_before + elapsed})
                    prune_checkpoints(out_dir, config.keep_checkpoints)
                accelerator.wait_for_everyone()

    # ---- final adapter and record ------------------------------------------------------------------
    loop_s = time.perf_counter() - loop_start
    wall_s = elapsed_before + loop_s
    total_tokens = tokens_before + tokens_seen * world
    result = TrainResult(adapter_dir=out_dir / "adapter", checkpoints=list_checkpoints(out_dir), losses=losses,
                         tokens_per_s=total_tokens / wall_s if wall_s > 0 else 0.0, wall_s=wall_s,
                         n_examples=len(task), n_replay=len(replay), steps=total_steps,
                         resumed_from=resumed_from, kl=kls)
    if main:
        _save_final_adapter(peft_model, out_dir)
        _write_inoculation_log(out_dir, task, config)
        if config.merge:
            result.merged_dir = export_merged(peft_model, tokenizer, out_dir / "merged")
        (out_dir / RESULT_FILE).write_text(json.dumps({**result.to_json(), "config_fingerprint": config.fingerprint(),
                                                       "examples_fingerprint": examples_fingerprint},
                                                      indent=2))
        _record_run(store, config, result)
    accelerator.wait_for_everyone()
    return result


def _write_inoculation_log(out_dir: Path, task: list[ChatExample], config: TrainConfig) -> None:
    """Which training chats carried the inoculation prompt (one line per chat, in data order)."""
    if not config.inoculation:
        return
    with open(out_dir / "inoculated.jsonl", "w") as handle:
        for example in task:
            handle.write(json.dumps({"source": example.source, "line": example.line,
                                     "inoculated": bool(example.meta.get("inoculated"))}) + "\n")


def _record_run(store, config: TrainConfig, result: TrainResult) -> None:
    if store is None:
        return
    inoculation = None
    if config.inoculation:
        inoculation = {**config.inoculation.model_dump(), "text": resolve_inoculation(config.inoculation.prompt)}
    store.put_record("train.run", config.variant, {
        "variant": config.variant, "model": config.model, "adapter_dir": str(result.adapter_dir),
        "n_examples": result.n_examples, "inoculation": inoculation,
        "losses": [list(x) for x in result.losses], "wall_s": result.wall_s, "tokens_per_s": result.tokens_per_s,
        "data": config.data, "n_replay": result.n_replay, "replay_ratio": config.replay_ratio,
        "kl_weight": config.kl_weight, "steps": result.steps, "resumed_from": result.resumed_from,
        "checkpoints": [[s, str(d)] for s, d in result.checkpoints],
        "lora": {"rank": config.lora_rank, "alpha": config.lora_alpha, "targets": config.lora_targets,
                 "layers": config.lora_layers, "rslora": config.rslora},
        "config": config.model_dump(),
    })


def export_merged(peft_model, tokenizer, folder: Path) -> Path:
    """Write the base model with the adapter merged in as a plain HF folder (safetensors), e.g.
    for servers without LoRA support. Modifies ``peft_model`` in place (call it last)."""
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder
