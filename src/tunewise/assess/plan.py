"""What a task's data can support, decided before the first model call.

A user's own file may hold 60 examples, not 400. Everything that depends on the data's size is
settled here, from the split alone, so that a run never dies after minutes of generation:

* the test split (``task.default_test_size``): 50 items, or half the examples when there are
  fewer than 100;
* each strategy: few-shot-K and knn-K need K train examples (knn also the packaged MiniLM),
  else they are skipped with the reason in the table;
* the ``instructions`` strategy's system message: the task's own description, else one derived
  from the task's metric and the shape of its train answers (never the test answers);
* the learning curve: the requested sizes that fit, padded to three points when the default
  sizes were asked for and the train split allows it.

Pure functions of the task and the settings: tested with plain data, no model.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field

from tunewise.assess.strategies import Strategy
from tunewise.assess.task import Task

#: the learning curve when train_sizes is not given; 0 = the whole train split
DEFAULT_TRAIN_SIZES = (16, 64, 256, 0)
#: fewest points a default curve gets when the train split allows it (a curve of two points
#: cannot show whether more data is still helping)
MIN_CURVE_POINTS = 3
#: smallest curve point: LoRA on fewer chats than this measures noise
MIN_CURVE_SIZE = 4


@dataclass
class Skipped:
    """A strategy (or the fine-tune) the data cannot support, and why, in the table's words."""

    strategy: str
    reason: str

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "reason": self.reason}


@dataclass
class Plan:
    strategies: list[Strategy]
    skipped: list[Skipped] = field(default_factory=list)
    curve_sizes: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _embeddings_missing() -> str | None:
    """Why knn cannot embed here (the packaged MiniLM is absent), or None. Only looks the
    package up; loading it is left to the first knn prompt."""
    from tunewise.embeddings import minilm_folder
    from tunewise.errors import ModelLoadError

    try:
        minilm_folder()
    except ModelLoadError as exc:
        return str(exc)
    return None


def plan_strategies(strategies: list[Strategy], n_train: int) -> tuple[list[Strategy], list[Skipped]]:
    """The strategies the train split supports, and the others with the reason."""
    runnable, skipped = [], []
    embeddings = _embeddings_missing() if any(s.kind == "knn" for s in strategies) else None
    for strategy in strategies:
        if strategy.kind in ("few-shot", "knn") and strategy.k > n_train:
            skipped.append(Skipped(strategy.name, f"needs {strategy.k} train examples; the train split has "
                                                  f"{n_train}"))
        elif strategy.kind == "knn" and embeddings:
            skipped.append(Skipped(strategy.name, embeddings))
        else:
            runnable.append(strategy)
    return runnable, skipped


def plan_curve(requested: list[int] | None, available: int) -> list[int]:
    """Learning-curve train sizes. Given sizes: those that fit (0 = all), sorted. Default sizes:
    those that fit, padded by halving the smallest until there are three points, as long as a
    point keeps at least ``MIN_CURVE_SIZE`` examples."""
    sizes = {available if size == 0 else size for size in (requested or DEFAULT_TRAIN_SIZES)}
    sizes = {size for size in sizes if 0 < size <= available}
    # halving the smallest point keeps the curve's points a factor 2 apart (the default's spacing
    # is 4) and shows whether the smallest subsets already learn the task
    while requested is None and sizes and len(sizes) < MIN_CURVE_POINTS and min(sizes) // 2 >= MIN_CURVE_SIZE:
        sizes.add(min(sizes) // 2)
    return sorted(sizes)


def plan_run(task: Task, strategies: list[Strategy], finetune: bool, train_sizes: list[int] | None) -> Plan:
    """Everything the run will do, checked against the data before any model is loaded."""
    runnable, skipped = plan_strategies(strategies, len(task.train))
    plan = Plan(strategies=runnable, skipped=skipped)
    if finetune:
        plan.curve_sizes = plan_curve(train_sizes, len(task.train))
        if not plan.curve_sizes:
            reason = (f"no train size fits the {len(task.train)} train examples "
                      f"(train_sizes {train_sizes or list(DEFAULT_TRAIN_SIZES)})")
            plan.skipped.append(Skipped("lora", reason))
    return plan


# ---------------------------------------------------------------- derived description
_METRIC_TEXT = {
    "exact": "Your reply is compared character for character with the expected answer, so reply with the answer "
             "only.",
    "normalized": "Your reply is compared with the expected answer ignoring case, punctuation and articles, so "
                  "reply with the answer only, no explanation.",
    "contains": "The expected answer must appear in your reply; keep the reply short.",
    "numeric": "Reply with the number only, without units or words.",
    "choice": "Reply with exactly one of the allowed labels.",
    "json": "Reply with one JSON object only, no text around it.",
    "regex": "Reply with the answer only.",
}


def _shape(text: str) -> str:
    """Digits as 9, letters as a, everything else kept: "2024-03-01" -> "9999-99-99"."""
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", text))


def _is_number(text: str) -> bool:
    return re.fullmatch(r"[-+]?\d[\d,]*(\.\d+)?", text.strip()) is not None


def _json_keys(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return sorted(value) if isinstance(value, dict) else None


def answer_shape(outputs: list[str]) -> str:
    """One sentence on what the gold answers look like (from the train split's answers)."""
    outputs = [o.strip() for o in outputs if o.strip()]
    if not outputs:
        return "Reply briefly."
    if all(_is_number(o) for o in outputs):
        return "The answer is a number."
    keys = [_json_keys(o) for o in outputs]
    if all(k is not None for k in keys):
        common = sorted(set.intersection(*(set(k) for k in keys)))
        return "The answer is a JSON object" + (f" with the keys {', '.join(common)}." if common else ".")
    distinct = sorted(set(outputs))
    if len(distinct) <= 12 and len(distinct) < len(outputs):
        return "The answer is one of: " + ", ".join(distinct) + "."
    shapes = {_shape(o) for o in outputs}
    if len(shapes) == 1 and len(outputs) > 1 and re.search(r"[^9a ]", next(iter(shapes))):
        return f"The answer is written in the format {next(iter(shapes))} (9 stands for a digit, a for a letter)."
    words = statistics.median(len(o.split()) for o in outputs)
    lines = max(o.count("\n") + 1 for o in outputs)
    if lines > 1:
        return f"The answer is text of up to {lines} lines."
    return f"The answer is short: about {words:g} word{'s' if words != 1 else ''}."


def derive_description(task: Task) -> str:
    """A system message for the ``instructions`` strategy when the task has no description:
    what is asked (the task's instruction, if any), the shape of the train split's answers and
    what the metric checks. Built from the train split only, so no test answer leaks into it."""
    parts = []
    if task.instruction:
        parts.append(task.instruction.strip())
    parts.append(answer_shape([item.output for item in task.train]))
    if task.metric.name == "choice" and task.metric.choices:
        parts.append("The allowed labels are: " + ", ".join(task.metric.choices) + ".")
    parts.append(_METRIC_TEXT.get(task.metric.name, "Reply with the answer only."))
    return " ".join(parts)


def with_description(task: Task) -> tuple[Task, str | None]:
    """The task with a description for the instructions strategy, and a note saying what was
    used when it had to be derived (None when the task brought its own)."""
    if task.description:
        return task, None
    task.description = derive_description(task)
    return task, (f"instructions: the task has no description, so one was derived from its metric "
                  f"({task.metric.name}) and the shape of its train answers: {task.description!r}")


__all__ = ["DEFAULT_TRAIN_SIZES", "Plan", "Skipped", "plan_strategies",
           "plan_curve", "plan_run", "answer_shape", "derive_description", "with_description"]
