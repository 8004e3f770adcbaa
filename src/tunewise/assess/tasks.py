"""Built-in assess tasks: deterministic generators with gold answers, written by us.

Each lives in ``tunewise/data/tasks/assess_<name>.py`` and exposes ``NAME``, ``INSTRUCTION``
(one line: what zero-shot and few-shot prompts say), ``DESCRIPTION`` (the detailed
instructions), ``METRIC`` (a MetricSpec dict) and ``generate(n, seed) -> [(input, output)]``.
Adding a task is adding one such file: the ``TASKS`` registry finds every ``assess_*`` module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tunewise.errors import ConfigError
from tunewise.registry import TASKS

BUILTIN_TASKS = tuple(TASKS.names())


def builtin_task_module(name: str) -> ModuleType:
    """The generator module of a built-in task, or a ConfigError listing the known names."""
    if name not in TASKS:
        raise ConfigError(f"task {name!r} is neither a built-in task ({', '.join(BUILTIN_TASKS)}) nor a JSONL file")
    return importlib.import_module(TASKS.get(name))


def builtin_examples(name: str, n: int = 400, seed: int = 0):
    """``n`` examples of a built-in task as ``ChatExample`` (user input, assistant gold answer),
    e.g. to write a JSONL file or to train on without the assess runner."""
    from tunewise.data.chat import ChatExample

    module = builtin_task_module(name)
    return [ChatExample(messages=[{"role": "user", "content": text}, {"role": "assistant", "content": gold}],
                        source=f"builtin:{name}", line=i + 1)
            for i, (text, gold) in enumerate(module.generate(n, seed))]
