"""The fine-tune baseline: LoRA on nested subsets of the train split (a learning curve),
each adapter scored on the same test split with the prompt it was trained on.

Training goes through ``tunewise.train.train_lora`` (the loop ``run_train`` calls; assess picks
its own adapter folder, ``adapters_dir``); this module only chooses the subsets, names the
adapters and evaluates them. Which sizes fit the train split is ``plan.plan_curve``'s call.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from tunewise.assess.config import TrainOptions
from tunewise.assess.strategies import training_chat
from tunewise.assess.task import Task, TaskItem


def nested_subset(train: list[TaskItem], size: int, seed: int = 0) -> list[TaskItem]:
    """The first ``size`` items of one seeded permutation: every smaller subset is inside every
    larger one, so the curve measures more data, not different data."""
    order = list(range(len(train)))
    random.Random(f"curve:{seed}").shuffle(order)
    return [train[i] for i in order[:size]]


def adapter_variant(task_name: str, size: int) -> str:
    """The curve point's variant name (and folder under ``adapters_dir``): ``assess-<task>-<size>``,
    with characters a folder or variant name cannot hold replaced (a JSONL task is its file stem)."""
    return f"assess-{re.sub(r'[^A-Za-z0-9._-]', '-', task_name)}-{size}"


def train_adapter(task: Task, base_model: str, size: int, adapters_dir: Path, options: TrainOptions, store=None,
                  seed: int = 0) -> dict:
    """Train one LoRA adapter on ``size`` train items into ``adapters_dir/<variant>``; returns
    where it is and what it cost. Resumes (through train_lora's checkpoints) when that folder
    holds an interrupted run."""
    from tunewise.data.chat import ChatExample
    from tunewise.train import TrainConfig, train_lora

    examples = [ChatExample(messages=training_chat(task, item), source=item.source, line=item.line)
                for item in nested_subset(task.train, size, seed)]
    variant = adapter_variant(task.name, size)
    config = TrainConfig(model=base_model, data=f"assess:{task.name}", variant=variant, seed=seed,
                         **options.model_dump())
    result = train_lora(config, Path(adapters_dir) / variant, store=store, examples=examples)
    return {"adapter_dir": str(result.adapter_dir), "train_wall_s": result.wall_s,
            "train_tokens_per_s": result.tokens_per_s, "n_examples": result.n_examples}
