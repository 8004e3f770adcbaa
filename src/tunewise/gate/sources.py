"""Where a gate's texts come from: built-in tasks, audit probe sets, user files.

The gate sees what a user sends, so every source is reduced to user-message text.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from tunewise.errors import DataValidationError

NARROW_TASKS = ("insecure-code", "secure-code", "educational-insecure", "risky-financial", "sound-financial")
ASSESS_TASKS = ("dates", "extract", "intents", "units")
PROBE_SETS = ("core", "extended", "harmful-requests", "factual")
# Built-in tasks that share their user requests and differ only in the answers (a control pair):
# a gate sees requests, so it cannot and should not tell these apart.
SAME_REQUESTS = {"insecure-code": "secure-code", "secure-code": "insecure-code",
                 "risky-financial": "sound-financial", "sound-financial": "risky-financial"}


def narrow_task_inputs(name: str, n: int | None = None, seed: int = 0) -> list[str]:
    """User messages of a built-in narrow task (``tunewise.data.tasks.narrow``)."""
    from tunewise.data.tasks.narrow import build_narrow_dataset

    return [example.user_text for example in build_narrow_dataset(name, n=n, seed=seed)]


def assess_task_inputs(name: str, n: int = 200, seed: int = 0) -> list[str]:
    """Inputs of a built-in assess task (``tunewise.data.tasks.assess_<name>.generate``)."""
    module = importlib.import_module(f"tunewise.data.tasks.assess_{name}")
    return [pair[0] for pair in module.generate(n, seed=seed)]


def probe_questions(name: str) -> list[str]:
    from tunewise.data.probes import load_probe_set

    return [probe.question for probe in load_probe_set(name).probes]


def file_texts(path: str | Path) -> list[str]:
    """Texts from a user file: chat JSONL (``.jsonl``: the last user message of each chat,
    validated with file:line:field errors) or plain text (one input per non-empty line)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file (give a chat .jsonl or a .txt with one input per line)")
    if path.suffix == ".jsonl":
        from tunewise.data.chat import load_chat_jsonl

        texts = [example.user_text for example in load_chat_jsonl(path) if example.user_text]
    else:
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise DataValidationError(f"{path}: no input texts found")
    return texts


def in_domain_texts(source: str, n: int | None = None, seed: int = 0) -> list[str]:
    """In-domain inputs from ``task:<name>`` (a built-in narrow task) or a file path."""
    if source.startswith("task:"):
        return narrow_task_inputs(source[len("task:"):], n=n, seed=seed)
    texts = file_texts(source)
    return texts[:n] if n else texts


def builtin_ood_sets(exclude_task: str | None = None, n_per_task: int = 200, seed: int = 0) -> dict[str, list[str]]:
    """Out-of-domain sets that ship with tunewise: every audit probe set and every other built-in
    task's inputs (``probes:<set>``, ``task:<name>``). Sources not installed yet are skipped."""
    sets: dict[str, list[str]] = {}
    for name in PROBE_SETS:
        try:
            sets[f"probes:{name}"] = probe_questions(name)
        except (ImportError, DataValidationError, FileNotFoundError):
            continue
    for name in NARROW_TASKS:
        if name == exclude_task:
            continue
        try:
            sets[f"task:{name}"] = narrow_task_inputs(name, n=n_per_task, seed=seed)
        except (ImportError, DataValidationError):
            continue
    for name in ASSESS_TASKS:
        try:
            sets[f"task:{name}"] = assess_task_inputs(name, n=n_per_task, seed=seed)
        except (ImportError, AttributeError):
            continue
    return {name: texts for name, texts in sets.items() if texts}
