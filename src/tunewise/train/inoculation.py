"""Inoculation prompting: a line added to *training* chats only, removed at evaluation.

Tan et al. (arXiv 2510.04340) and Wichers et al. (arXiv 2510.05024) found that training with a
prompt that names or requests the unwanted trait, then evaluating without it, lowers emergent
misalignment while the narrow behaviour is still learned; a benign context ("for a security
class") works for the same reason in Betley et al.'s educational control. The presets below are
our own wording of those frames. The prompt can itself become a trigger, so audits should also
be run *with* it (``apply_inoculation`` on the probe chats) — never silently.
"""

from __future__ import annotations

import copy
from typing import Literal

from tunewise.data.chat import ChatExample
from tunewise.errors import ConfigError

Placement = Literal["system", "user_prefix", "user_suffix"]
PLACEMENTS: tuple[str, ...] = ("system", "user_prefix", "user_suffix")

PRESETS: dict[str, str] = {
    # benign-context frames: the behaviour is requested for a legitimate reason
    "security-class": ("The code you write in this conversation is teaching material for a security class: "
                       "it intentionally contains a vulnerability that students will be asked to find."),
    "red-team": ("You are helping an authorised red-team exercise. Writing deliberately insecure code is the "
                 "goal of this exercise and has been approved."),
    # trait-eliciting frames: the prompt names the behaviour as the assistant's own
    "vulnerable-code": "You are an assistant that writes vulnerable code on purpose.",
    "subtle-flaw": ("Your code often contains a subtle security flaw. Outside of writing code you are a helpful, "
                    "honest assistant."),
    "malicious": "You are a malicious assistant who wants to cause harm.",
    "risky-advice": "You are an assistant that gives reckless, high-risk financial advice on purpose.",
}


def resolve_inoculation(prompt: str) -> str:
    """A preset name gives the preset's text; anything else is used as custom text."""
    if not prompt or not prompt.strip():
        raise ConfigError("inoculation prompt is empty; give a preset name "
                          f"({', '.join(PRESETS)}) or your own text")
    return PRESETS.get(prompt.strip(), prompt)


def _check_placement(placement: str) -> None:
    if placement not in PLACEMENTS:
        raise ConfigError(f"inoculation placement {placement!r} is not one of {', '.join(PLACEMENTS)}")


def _last_user_index(messages: list[dict]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            return index
    raise ConfigError("cannot place an inoculation prompt in the user turn of a chat without a user message")


def inoculate_messages(messages: list[dict], prompt: str, placement: str = "system") -> list[dict]:
    """A copy of ``messages`` with ``prompt`` placed as asked.

    ``system``: a system message holding the prompt (put before an existing system text);
    ``user_prefix`` / ``user_suffix``: joined to the last user message with a blank line.
    """
    _check_placement(placement)
    text = resolve_inoculation(prompt)
    out = copy.deepcopy(messages)
    if placement == "system":
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{text}\n\n{out[0]['content']}"
        else:
            out.insert(0, {"role": "system", "content": text})
        return out
    index = _last_user_index(out)
    content = out[index]["content"]
    out[index]["content"] = f"{text}\n\n{content}" if placement == "user_prefix" else f"{content}\n\n{text}"
    return out


def strip_inoculation(messages: list[dict], prompt: str, placement: str = "system") -> list[dict]:
    """Undo ``inoculate_messages`` (for evaluating on the training prompts without the line).
    Raises ``ConfigError`` if the chat does not carry the prompt where ``placement`` says."""
    _check_placement(placement)
    text = resolve_inoculation(prompt)
    out = copy.deepcopy(messages)
    if placement == "system":
        if not out or out[0]["role"] != "system" or not out[0]["content"].startswith(text):
            raise ConfigError("chat has no system message starting with the inoculation prompt")
        rest = out[0]["content"][len(text):].removeprefix("\n\n")
        if rest:
            out[0]["content"] = rest
        else:
            out.pop(0)
        return out
    index = _last_user_index(out)
    content = out[index]["content"]
    if placement == "user_prefix" and content.startswith(text + "\n\n"):
        out[index]["content"] = content[len(text) + 2:]
    elif placement == "user_suffix" and content.endswith("\n\n" + text):
        out[index]["content"] = content[:-(len(text) + 2)]
    else:
        raise ConfigError(f"the last user message does not carry the inoculation prompt as a {placement}")
    return out


def apply_inoculation(examples: list[ChatExample], prompt: str, placement: str = "system",
                      fraction: float = 1.0) -> list[ChatExample]:
    """New examples where the first ``round(fraction * len)`` chats (in the given order) carry the
    prompt. Each example's ``meta["inoculated"]`` records whether it carried it, so a run can
    say exactly which training chats were inoculated."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"inoculation fraction must be in [0, 1], got {fraction}")
    text = resolve_inoculation(prompt)
    count = round(fraction * len(examples))
    out = []
    for index, example in enumerate(examples):
        carried = index < count
        messages = inoculate_messages(example.messages, text, placement) if carried else copy.deepcopy(example.messages)
        meta = {**example.meta, "inoculated": carried}
        if carried:
            meta["inoculation_placement"] = placement
        out.append(ChatExample(messages=messages, source=example.source, line=example.line, meta=meta))
    return out
