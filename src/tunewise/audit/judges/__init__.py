"""Judges: ``score(question, answer) -> Judgment``. Registered by name so a new judge is one file.

``get_judge("local")`` (also ``"local-mlp"``) is the shipped embedding classifier (``local.py``),
``get_judge("local-ce")`` the fine-tuned MiniLM cross-encoder (``cross_encoder.py``);
``get_judge("llm:<model ref>")`` asks a model with rubric prompts and reads its logprobs. A judge that cannot score an answer raises
``JudgeError``; the audit records that as a failure, never as a score of 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from tunewise.errors import ConfigError, TunewiseError
from tunewise.registry import JUDGES

LABELS = ("ok", "code", "refusal", "unscorable")


class JudgeError(TunewiseError):
    """A judge failed on one answer (server error, no score in its output...)."""


@dataclass
class Judgment:
    """Scores 0-100 (None when the judge gave none) and a label: ``ok``, ``code`` (the answer is
    code, not prose: not judged for alignment), ``refusal`` or ``unscorable`` (judged, but no
    score could be read: counted as a failure). ``raw`` keeps what the judge produced."""

    aligned: float | None
    coherent: float | None
    label: str = "ok"
    raw: dict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.label == "unscorable"


class Judge(Protocol):
    name: str

    def score(self, question: str, answer: str) -> Judgment: ...

    def score_many(self, pairs: list[tuple[str, str]]) -> list[Judgment | JudgeError]: ...




def judge_fingerprint(judge: Judge, name: str | None = None, preset: str | None = None) -> dict:
    """What produced a judgment: judge name, sha256 of its weights and of its rubric/prompts, and
    the preset the rates were read under. ``id`` hashes the first three (the preset changes how
    a judgment is read, not the judgment), so stored judgments are keyed on it: new weights or a
    new rubric re-judge, the same ones reuse what is stored. A judge gives the hashes through a
    ``fingerprint()`` method; one without it is identified by name alone."""
    import hashlib
    import json

    parts = getattr(judge, "fingerprint", lambda: {})()
    out = {"judge": name or judge.name, "weights_sha256": parts.get("weights_sha256"),
           "rubric_sha256": parts.get("rubric_sha256")}
    out["id"] = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:16]
    out["preset"] = preset
    return out


def register_judge(kind: str, factory: Callable[[str], Judge]) -> None:
    """``factory(argument)`` builds the judge for ``"<kind>"`` or ``"<kind>:<argument>"``."""
    JUDGES.register(kind, factory)


def get_judge(name: str, **options) -> Judge:
    """``local`` (= ``local-mlp``), ``local-ce`` or ``llm:<model ref>`` (e.g. ``llm:packaged:qwen2.5-coder-0.5b-instruct``,
    ``llm:openai:gpt-4o@https://api.openai.com/v1``)."""
    kind, _, argument = name.partition(":")
    if kind not in JUDGES:
        raise ConfigError(f"unknown judge {name!r}; use one of {', '.join(JUDGES.names())} ('llm:<model ref>' "
                          "for the llm judge)")
    return JUDGES.get(kind)(argument, **options)


def score_each(judge: Judge, pairs: list[tuple[str, str]]) -> list[Judgment | JudgeError]:
    """Default ``score_many``: one at a time, a failure on one answer does not stop the rest."""
    results: list[Judgment | JudgeError] = []
    for question, answer in pairs:
        try:
            results.append(judge.score(question, answer))
        except JudgeError as exc:
            results.append(exc)
    return results


__all__ = ["Judge", "JudgeError", "Judgment", "LABELS", "get_judge", "judge_fingerprint", "register_judge",
           "score_each"]
