"""Where a gate's texts come from: built-in datasets and assess tasks, audit probe sets, user files.

The gate sees what a user sends, so every source is reduced to user-message text. Every list of
built-in names is read from the registries (``tunewise.registry``: ``DATASETS``, ``TASKS``,
``PROBE_SETS``), so a new probe set or task is evaluated without touching this module.

Related built-in datasets (``REQUEST_FAMILIES``) are the one rule for sets whose users send the
same kind of request as the gate's own data: they are *evaluated* and labelled "should not
refuse" (their refusal rate is a false-reject rate), never silently dropped. Why: a gate sees
requests, not answers. ``secure-code`` has exactly the requests of ``insecure-code``, so an
AUROC near 0.5 is the correct result and dropping it hides that check; ``educational-insecure``
asks for the same functions behind a "for my security class" framing, which is a rewording of
in-domain requests like the ``paraphrase-in-domain`` hard case (also "should not refuse"), and
how many of those the gate refuses is exactly what a user of that framing would meet.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from tunewise.errors import ConfigError, DataValidationError

# Built-in narrow datasets whose users send the same kind of request (they differ in the answers,
# or in a framing of the same request). Checked against the DATASETS registry by the tests.
REQUEST_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"insecure-code", "secure-code", "educational-insecure"}),
    frozenset({"risky-financial", "sound-financial"}),
    frozenset({"bad-medical", "sound-medical"}),  # twins: the same user messages, other answers
    frozenset({"extreme-sports", "safe-sports"}),
)
BUILTIN = "builtin"  # an ood_sets entry meaning "every built-in set"


@dataclass
class EvalSet:
    """One out-of-domain (or related) set: its texts and whether a correct gate refuses them."""

    name: str
    texts: list[str]
    expect_refusal: bool = True


def related_datasets(dataset: str | None) -> frozenset[str]:
    """The built-in datasets in ``dataset``'s request family, itself included."""
    for family in REQUEST_FAMILIES:
        if dataset in family:
            return family
    return frozenset({dataset}) if dataset else frozenset()


def builtin_dataset(source: str | None) -> str | None:
    """The built-in dataset a source names (``task:<name>`` or a bare registered name), else None.
    ``task:`` with an unknown name is a ConfigError with a did-you-mean."""
    from tunewise.registry import DATASETS

    if source is None:
        return None
    if source.startswith("task:"):
        name = source.removeprefix("task:")
        DATASETS.get(name)
        return name
    return source if source in DATASETS else None


def check_set_name(name: str) -> None:
    """Raise ConfigError for a ``probes:`` or ``task:`` name no registry knows (files are checked when read)."""
    from tunewise.registry import DATASETS, PROBE_SETS, TASKS

    if name.startswith("probes:"):
        PROBE_SETS.get(name.removeprefix("probes:"))
    elif name.startswith("task:"):
        task = name.removeprefix("task:")
        if task not in DATASETS and task not in TASKS:
            known = ", ".join([*DATASETS.names(), *TASKS.names()])
            raise ConfigError(f"unknown task {task!r} in {name!r} (known: {known})")


def narrow_task_inputs(name: str, n: int | None = None, seed: int = 0) -> list[str]:
    """User messages of the first ``n`` (at most) chats of a built-in narrow dataset, in the order
    ``build_narrow_dataset`` shuffles them with ``seed`` (the order training uses)."""
    from tunewise.data.tasks.narrow import build_narrow_dataset

    examples = build_narrow_dataset(name, seed=seed)
    return [example.user_text for example in examples[:n] if example.user_text]


def assess_task_inputs(name: str, n: int = 200, seed: int = 0) -> list[str]:
    """Inputs of a built-in assess task (the registry entry's ``generate(n, seed)``)."""
    from tunewise.registry import TASKS

    entry = TASKS.get(name)
    module = importlib.import_module(entry) if isinstance(entry, str) else entry
    return [pair[0] for pair in module.generate(n, seed=seed)]


def probe_questions(name: str) -> list[str]:
    from tunewise.data.probes import load_probe_set

    return [probe.question for probe in load_probe_set(name).probes]


def file_texts(path: str | Path, n: int | None = None) -> list[str]:
    """Texts from a user file: chat JSONL (``.jsonl``: the last user message of each of the first
    ``n`` chats, validated with file:line:field errors) or plain text (one input per non-empty line)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file (give a chat .jsonl or a .txt with one input per line)")
    if path.suffix == ".jsonl":
        from tunewise.data.chat import load_chat_jsonl

        texts = [example.user_text for example in load_chat_jsonl(path)[:n] if example.user_text]
    else:
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[:exc.start].count(b"\n") + 1
            raise DataValidationError(f"{path}:{line}: <line>: not valid UTF-8 (byte {exc.start}); re-save the file "
                                      "as UTF-8") from None
        texts = [line.strip() for line in content.splitlines() if line.strip()][:n]
    if not texts:
        raise DataValidationError(f"{path}: no input texts found")
    return texts


def in_domain_texts(source: str, n: int | None = None, seed: int = 0) -> list[str]:
    """In-domain inputs from a built-in dataset (``task:<name>`` or its bare name) or a file: the
    same chats ``tunewise train`` and ``tunewise run`` train on for the same ``n`` and ``seed``."""
    dataset = builtin_dataset(source)
    return narrow_task_inputs(dataset, n=n, seed=seed) if dataset else file_texts(source, n=n)


def builtin_set_names(exclude_dataset: str | None = None) -> list[str]:
    """Every built-in out-of-domain set: each probe set, then each narrow dataset but
    ``exclude_dataset`` (the gate's own data), then each assess task."""
    from tunewise.registry import DATASETS, PROBE_SETS, TASKS

    return ([f"probes:{name}" for name in PROBE_SETS.names()]
            + [f"task:{name}" for name in DATASETS.names() if name != exclude_dataset]
            + [f"task:{name}" for name in TASKS.names()])


def set_texts(name: str, n_per_set: int, seed: int) -> list[str]:
    """The first ``n_per_set`` texts of one named set (``probes:``, ``task:`` or a file path)."""
    from tunewise.registry import DATASETS

    if name.startswith("probes:"):
        return probe_questions(name.removeprefix("probes:"))[:n_per_set]
    if name.startswith("task:"):
        task = name.removeprefix("task:")
        if task in DATASETS:
            return narrow_task_inputs(task, n=n_per_set, seed=seed)
        return assess_task_inputs(task, n=n_per_set, seed=seed)
    return file_texts(name, n=n_per_set)


def evaluation_sets(entries: list[str] | None, source_dataset: str | None, n_per_set: int,
                    seed: int) -> list[EvalSet]:
    """The sets a gate fitted on ``source_dataset`` (None for a user file) is measured against.

    ``entries`` None means every built-in set (``builtin_set_names``); ``builtin`` inside a list
    adds them. A set of the gate's own request family (``REQUEST_FAMILIES``) is labelled "should
    not refuse", wherever it comes from; files are named ``file:<file name>``.
    """
    names: list[str] = []
    for entry in ([BUILTIN] if entries is None else entries):
        names += builtin_set_names(source_dataset) if entry == BUILTIN else [entry]
    family = related_datasets(source_dataset)
    sets: dict[str, EvalSet] = {}
    for name in dict.fromkeys(names):
        check_set_name(name)
        texts = set_texts(name, n_per_set, seed)
        label = name
        if not name.startswith(("probes:", "task:")):
            label = f"file:{Path(name).name}"
            if label in sets:  # two files of one name: tell them apart by their path
                label = f"file:{name}"
        expect_refusal = not (name.startswith("task:") and name.removeprefix("task:") in family)
        if texts:
            sets[label] = EvalSet(label, texts, expect_refusal)
    return list(sets.values())


def hard_case_pool() -> list[str] | None:
    """Off-domain requests the hard cases splice into in-domain ones: every built-in probe set's
    questions (None, i.e. the generic bank in hard_cases.yaml, when no probe set is registered).
    The same pool whatever ``ood_sets`` says, so the hard cases do not change with that choice."""
    from tunewise.registry import PROBE_SETS

    pool = [text for name in PROBE_SETS.names() for text in probe_questions(name)]
    return pool or None
