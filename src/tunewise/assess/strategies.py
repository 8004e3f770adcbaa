"""Prompting strategies: how each test question is turned into a chat.

``zero-shot``      the task's one-line instruction (if any) as system message, then the question.
``instructions``   the detailed task description as system message, then the question (a task
                   without one gets a description derived from its metric and answers: plan.py).
``few-shot-K``     instruction, then K fixed train examples as user/assistant turns, then the
                   question. The K shots are the first K of one seeded permutation of the train
                   split, so few-shot-1 is inside few-shot-4 is inside few-shot-16.
``knn-K``          like few-shot-K, but the K train examples nearest the question by MiniLM
                   sentence embedding (most similar last, next to the question).

The fixed strategies give every question the same prefix (system + shots), which is what the
prefix cache reuses; kNN prompts share only the system message.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tunewise.assess.task import Task, TaskItem
from tunewise.errors import ConfigError
from tunewise.models.types import Chat

DEFAULT_STRATEGIES = ("zero-shot", "instructions", "few-shot-1", "few-shot-4", "few-shot-16", "knn-4")
_PATTERN = re.compile(r"^(zero-shot|instructions|few-shot-(\d+)|knn-(\d+))$")


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str  # zero-shot | instructions | few-shot | knn
    k: int = 0


def parse_strategy(text: str) -> Strategy:
    """``zero-shot``, ``instructions``, ``few-shot-K`` or ``knn-K`` (K >= 1)."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise ConfigError(f"strategy {text!r}: use zero-shot, instructions, few-shot-K or knn-K (e.g. few-shot-4, knn-4)")
    name = match.group(1)
    k = int(match.group(2) or match.group(3) or 0)
    if name.startswith(("few-shot", "knn")) and k < 1:
        raise ConfigError(f"strategy {text!r}: K must be at least 1")
    kind = "few-shot" if name.startswith("few-shot") else "knn" if name.startswith("knn") else name
    return Strategy(name=name, kind=kind, k=k)


def fixed_shots(train: list[TaskItem], k: int, seed: int = 0) -> list[TaskItem]:
    """The first ``k`` of one seeded permutation of the train split (nested across k)."""
    if k > len(train):
        raise ConfigError(f"few-shot-{k} needs {k} train examples; the train split has {len(train)}")
    order = list(range(len(train)))
    random.Random(f"shots:{seed}").shuffle(order)
    return [train[i] for i in order[:k]]


def nearest_shots(train: list[TaskItem], queries: list[TaskItem], k: int,
                  embed: Callable[[list[str]], np.ndarray]) -> list[list[TaskItem]]:
    """For each query, the ``k`` train items with the most similar input (cosine on normalised
    embeddings), ordered least to most similar."""
    if k > len(train):
        raise ConfigError(f"knn-{k} needs {k} train examples; the train split has {len(train)}")
    train_vectors = embed([item.input for item in train])
    query_vectors = embed([item.input for item in queries])
    similarity = query_vectors @ train_vectors.T
    chosen = []
    for row in similarity:
        top = np.argsort(-row, kind="stable")[:k]
        chosen.append([train[i] for i in reversed(top)])
    return chosen


def _chat(system: str | None, shots: list[TaskItem], question: str) -> Chat:
    chat: Chat = [{"role": "system", "content": system}] if system else []
    for shot in shots:
        chat += [{"role": "user", "content": shot.input}, {"role": "assistant", "content": shot.output}]
    return chat + [{"role": "user", "content": question}]


def build_prompts(strategy: Strategy, task: Task, items: list[TaskItem], seed: int = 0,
                  embed: Callable[[list[str]], np.ndarray] | None = None) -> list[Chat]:
    """One chat per item for ``strategy``. ``embed`` (default: packaged MiniLM) is used by knn."""
    if strategy.kind == "zero-shot":
        return [_chat(task.instruction, [], item.input) for item in items]
    if strategy.kind == "instructions":
        from tunewise.assess.plan import derive_description  # plan imports this module

        description = task.description or derive_description(task)
        return [_chat(description, [], item.input) for item in items]
    if strategy.kind == "few-shot":
        shots = fixed_shots(task.train, strategy.k, seed)
        return [_chat(task.instruction, shots, item.input) for item in items]
    if embed is None:
        from tunewise.embeddings import embed_texts as embed
    neighbours = nearest_shots(task.train, items, strategy.k, embed)
    return [_chat(task.instruction, shots, item.input) for shots, item in zip(neighbours, items)]


def training_chat(task: Task, item: TaskItem) -> list[dict[str, str]]:
    """The chat a fine-tune trains on: the zero-shot prompt plus the gold answer, so the tuned
    model is evaluated with exactly the prompt it was trained with (RESEARCH.md: keep the system
    prompt identical between training and evaluation)."""
    return _chat(task.instruction, [], item.input) + [{"role": "assistant", "content": item.output}]
