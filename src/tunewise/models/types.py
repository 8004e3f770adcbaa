"""The small types every backend speaks: chats, sampling parameters, completions.

Kept free of torch so that HTTP-only backends and the run store import nothing heavy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]
Chat = list[Message]


@dataclass
class SamplingParams:
    """How to sample. ``n`` samples per chat each get their own seed derived from ``seed``, the
    sample index and (on hf) the prompt, because a fixed per-request seed makes every sample of
    a prompt identical (seen with vLLM). ``temperature == 0`` means greedy."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    """One sampled answer. ``chat_index``/``sample_index`` say which chat and which sample."""

    chat_index: int
    sample_index: int
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or stop string) or "length"
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """What audit, assess and judges need from a model, whatever engine runs it."""

    model_ref: str

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` answers per chat; returned ordered by chat, then sample."""
        ...

    def top_logprobs(self, chats: list[Chat], k: int = 20) -> list[dict[str, float]]:
        """For each chat, the ``k`` most likely next tokens after the assistant turn opens,
        as {token text: log probability}."""
        ...
