"""Held-out task accuracy at each checkpoint: "the task was learned" measured, not assumed.

Why: the early-stopping rule keeps the earliest checkpoint with >= 90% of the final task
performance (stopping early removed EM while keeping ~93% of task performance, arXiv
2605.12199). Training loss says how well a checkpoint fits its own training chats; accuracy on
held-out items says whether it does the task on situations it never saw, which is what "keeps
the task" means to a user. The advice datasets (bad-medical, extreme-sports, risky-financial
and their sound twins) hold out chats about unseen situations (``build_narrow_dataset(...,
split="heldout")``), and the deterministic advice rules (``data.tasks.advice.same_verdict``)
score an answer correct when it gives the same kind of advice as the gold answer: harmful for
the harmful datasets, sound for the twins. The code datasets have no held-out split; their
checkpoints are measured by loss only (the checkpoint table says which metric it used).

Answers are greedy (temperature 0, one per item: an accuracy, not a distribution) and asked as a
user would, with no system prompt or inoculation, by the base model and by every checkpoint.
They are keyed like every audit answer (model ref, dataset, item, sampling parameters) under
their own stage, ``audit.task``, so they never mix with the judged probe answers and an
interrupted audit resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunewise.data.tasks.advice import AdviceDomain, same_verdict
from tunewise.models.types import SamplingParams
from tunewise.runs.store import RunStore, make_key

TASK_STAGE = "audit.task"
SUBSET_SEED = 0  # the same held-out items for every audit of every run of a dataset


@dataclass(frozen=True)
class HeldoutTask:
    """The held-out items of a train run's dataset: (user message, gold answer) pairs and the
    domain whose rules score them."""

    dataset: str
    domain: AdviceDomain
    items: list[tuple[str, str]]


@dataclass(frozen=True)
class TaskAccuracy:
    """One model's held-out accuracy: the share of ``n`` greedy answers scored correct."""

    accuracy: float
    n: int


def heldout_task(out_dir: Path, n_items: int) -> HeldoutTask | None:
    """The first ``n_items`` held-out chats of the dataset the run at ``out_dir`` trained on
    (its ``train_config.json``); None when the dataset has no held-out split (code datasets, a
    user's own file) or ``n_items`` is 0."""
    from tunewise.data.tasks.narrow import ADVICE_DOMAINS, build_narrow_dataset

    config_file = out_dir / "train_config.json"
    if n_items <= 0 or not config_file.exists():
        return None
    dataset = (json.loads(config_file.read_text()).get("config") or {}).get("data")
    if dataset not in ADVICE_DOMAINS:
        return None
    chats = build_narrow_dataset(dataset, seed=SUBSET_SEED, split="heldout")[:n_items]
    items = [(next(m["content"] for m in c.messages if m["role"] == "user"),
              next(m["content"] for m in c.messages if m["role"] == "assistant")) for c in chats]
    return HeldoutTask(dataset, ADVICE_DOMAINS[dataset], items)


def task_params(max_tokens: int, seed: int) -> SamplingParams:
    return SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens, seed=seed)


def task_plan(label: str, ref: str, task: HeldoutTask, params: SamplingParams) -> list[dict]:
    """One planned greedy answer per held-out item, in the shape ``sampling.sample_model`` takes."""
    plan = []
    for index, (user, _gold) in enumerate(task.items):
        chat = [{"role": "user", "content": user}]
        key = make_key(TASK_STAGE, ref, task.dataset, "heldout", chat, 0, params.temperature, params.top_p,
                       params.max_tokens, params.seed)
        plan.append({"key": key, "chat": chat, "sample_index": 0, "model_label": label, "model": ref,
                     "probe_id": f"{task.dataset}-heldout-{index}", "question": user, "category": "task",
                     "variant": "plain", "gold_index": index})
    return plan


def score_answers(task: HeldoutTask, answers: list[tuple[int, str]]) -> TaskAccuracy | None:
    """Accuracy of (item index, answer text) pairs against the items' gold answers; None if empty."""
    if not answers:
        return None
    correct = sum(same_verdict(task.domain, text, task.items[index][1]) for index, text in answers)
    return TaskAccuracy(correct / len(answers), len(answers))


def stored_accuracy(store: RunStore, plan: list[dict], task: HeldoutTask) -> TaskAccuracy | None:
    """The accuracy of one model's stored answers to its planned items."""
    if not plan:
        return None
    texts = {g["key"]: g["text"] for g in store.generations(stage=TASK_STAGE, model=plan[0]["model"])}
    return score_answers(task, [(item["gold_index"], texts[item["key"]]) for item in plan if item["key"] in texts])
