"""A task to assess: examples with gold answers, a metric, and a train/dev/test split.

The split is a seeded permutation, so the same task and seed always give the same test
items: every strategy and every model is scored on identical questions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from tunewise.assess.metrics import MetricSpec
from tunewise.assess.tasks import BUILTIN_TASKS, builtin_task_module
from tunewise.errors import ConfigError, DataValidationError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class TaskItem:
    """One question and its gold answer; ``source``/``line`` point back to the file."""

    id: str
    input: str
    output: str
    source: str = "<memory>"
    line: int = 0


@dataclass
class Task:
    """Everything a strategy needs: the short ``instruction`` (zero-shot, few-shot), the
    detailed ``description`` (the instructions strategy), the metric and the three splits."""

    name: str
    metric: MetricSpec
    train: list[TaskItem]
    test: list[TaskItem]
    dev: list[TaskItem] = field(default_factory=list)
    instruction: str | None = None
    description: str | None = None

    def summary(self) -> dict:
        return {"name": self.name, "metric": self.metric.model_dump(exclude_none=True), "train": len(self.train),
                "dev": len(self.dev), "test": len(self.test), "instruction": self.instruction,
                "description": self.description}


#: the test split when test_size is not given (fewer examples: half of them)
DEFAULT_TEST_SIZE = 50


def default_test_size(n_items: int) -> int:
    """50 test items, or half the examples when there are fewer than 100: a test of 30 gives a
    95% Wilson interval about +-17 points wide at 50% (enough to tell 30% from 80%), and the 30
    left for training hold few-shot-16 and a three-point learning curve; the old fixed 50 left
    a 60-example file 10 train items, too few for either."""
    return min(DEFAULT_TEST_SIZE, max(1, n_items // 2))


def split_items(items: list[TaskItem], test_size: int | float | None, dev_size: int | float = 0,
                seed: int = 0) -> tuple[list[TaskItem], list[TaskItem], list[TaskItem]]:
    """Seeded split into (train, dev, test). Sizes are counts, or fractions when below 1;
    ``test_size`` None is ``default_test_size``."""
    def count(size: int | float) -> int:
        return int(round(size * len(items))) if 0 < size < 1 else int(size)

    if test_size is None:
        test_size = default_test_size(len(items) - count(dev_size))
    n_test, n_dev = count(test_size), count(dev_size)
    if n_test < 1:
        raise ConfigError(f"test_size {test_size} gives no test items")
    if n_test + n_dev >= len(items):
        raise ConfigError(f"only {len(items)} examples: cannot hold out {n_test} test and {n_dev} dev items "
                          "and still train; lower test_size/dev_size or add examples")
    order = list(range(len(items)))
    random.Random(f"split:{seed}").shuffle(order)
    shuffled = [items[i] for i in order]
    return shuffled[n_test + n_dev:], shuffled[n_test:n_test + n_dev], shuffled[:n_test]


def _items_from_file(path: Path) -> tuple[list[TaskItem], dict[str, str], str | None]:
    """Items, each item's split label (from ``metadata.split``, if any) and a system message
    shared by every example (used as the instruction)."""
    from tunewise.data.chat import load_chat_jsonl

    examples = load_chat_jsonl(path)
    items, splits, problems, systems = [], {}, [], set()
    for example in examples:
        item = TaskItem(id=f"{path.name}:{example.line}", input=example.user_text, output=example.answer,
                        source=str(path), line=example.line)
        if not item.output:
            problems.append(f"{path}:{example.line}: messages: the last message must be the assistant's gold answer")
        label = example.meta.get("split")
        if label is not None:
            if label not in SPLITS:
                problems.append(f"{path}:{example.line}: metadata.split: {label!r} is not one of {', '.join(SPLITS)}")
            splits[item.id] = label
        systems.add(next((m["content"] for m in example.messages if m["role"] == "system"), None))
        items.append(item)
    if problems:
        raise DataValidationError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(problems), problems)
    shared_system = systems.pop() if len(systems) == 1 else None
    return items, splits, shared_system


def load_task(task: str, n: int = 400, seed: int = 0, test_size: int | float | None = None, dev_size: int | float = 0,
              metric: MetricSpec | dict | str | None = None, instruction: str | None = None,
              description: str | None = None) -> Task:
    """Load a built-in task by name (``n`` generated examples) or a chat / ``{input, output}``
    JSONL file. A file whose lines carry ``metadata.split`` keeps the user's splits; otherwise
    the seeded split applies. Arguments given here override the task's own defaults."""
    if isinstance(metric, str):
        metric = MetricSpec(name=metric)
    elif isinstance(metric, dict):
        metric = MetricSpec(**metric)
    path = Path(task)
    if task in BUILTIN_TASKS:
        module = builtin_task_module(task)
        items = [TaskItem(id=f"{task}:{i}", input=text, output=gold, source=f"builtin:{task}", line=i + 1)
                 for i, (text, gold) in enumerate(module.generate(n, seed=0))]
        train, dev, test = split_items(items, test_size, dev_size, seed)
        return Task(name=task, metric=metric or MetricSpec(**module.METRIC), train=train, dev=dev, test=test,
                    instruction=instruction or module.INSTRUCTION, description=description or module.DESCRIPTION)
    if not path.exists():
        builtin_task_module(task)  # raises the error that names the built-in tasks
    items, splits, shared_system = _items_from_file(path)
    if splits:
        missing = [item.id for item in items if item.id not in splits]
        if missing:
            raise DataValidationError(f"{path}: some lines set metadata.split and others do not "
                                      f"(first without: {missing[0]}); set it on every line or on none")
        parts = {name: [item for item in items if splits[item.id] == name] for name in SPLITS}
        train, dev, test = parts["train"], parts["dev"], parts["test"]
        if not test:
            raise DataValidationError(f"{path}: metadata.split names no 'test' items")
    else:
        try:
            train, dev, test = split_items(items, test_size, dev_size, seed)
        except ConfigError as exc:
            raise DataValidationError(f"{path}: {exc}") from None  # say which file is too small
    return Task(name=path.stem, metric=metric or MetricSpec(), train=train, dev=dev, test=test,
                instruction=instruction or shared_system, description=description)
