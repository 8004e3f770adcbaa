"""Knowledge retention: greedy answers to the ``factual`` probes checked against gold answers.
A narrow fine-tune that makes a model misaligned may also make it forget; persona drift
monitoring plots one against the other."""

from __future__ import annotations

import re

from tunewise.data.probes import Probe, ProbeSet, load_probe_set
from tunewise.errors import DataValidationError
from tunewise.models.types import Backend, SamplingParams


def matches_gold(answer: str, gold: list[str]) -> bool:
    """True when any gold string occurs in the answer as whole words/numbers, case-insensitive
    ("2" matches "is 2." but not "12" or "2.5" ... only at word boundaries)."""
    text = " ".join(answer.lower().split())
    for g in gold:
        pattern = r"(?<![\w.])" + re.escape(" ".join(g.lower().split())) + r"(?![\w]|\.\d)"
        if re.search(pattern, text):
            return True
    return False


def knowledge_retention(backend: Backend, probe_set: str | ProbeSet = "factual", max_tokens: int = 48,
                        system_prompt: str | None = None) -> tuple[float, int]:
    """(accuracy, n) of greedy answers on a probe set whose probes all have gold answers."""
    probes, chats = knowledge_chats(probe_set, system_prompt)
    return knowledge_score(probes, backend.generate(chats, knowledge_params(max_tokens)))


def knowledge_params(max_tokens: int = 48) -> SamplingParams:
    return SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens)


def knowledge_chats(probe_set: str | ProbeSet = "factual", system_prompt: str | None = None) -> tuple[list[Probe], list]:
    """The probes (every one with gold answers, else an error naming them) and their chats."""
    probes_set = probe_set if isinstance(probe_set, ProbeSet) else load_probe_set(probe_set)
    probes: list[Probe] = list(probes_set.probes)
    without_gold = [p.id for p in probes if not p.gold]
    if without_gold:
        raise DataValidationError(f"probe set {probes_set.name}: probes without gold answers: "
                                  f"{', '.join(without_gold)}", [f"{p}: gold: missing" for p in without_gold])
    prefix = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return probes, [prefix + [{"role": "user", "content": p.question}] for p in probes]


def knowledge_score(probes: list[Probe], completions) -> tuple[float, int]:
    """(accuracy, n): the share of ``completions`` (``chat_index`` into ``probes``) holding a gold answer."""
    correct = sum(matches_gold(c.text, probes[c.chat_index].gold or []) for c in completions)
    return correct / len(probes), len(probes)
