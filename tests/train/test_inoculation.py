"""Inoculation placement, stripping, presets, and the record of which chats carried it."""

from __future__ import annotations

import pytest

from tunewise.data.chat import ChatExample
from tunewise.errors import ConfigError
from tunewise.train.inoculation import (PLACEMENTS, PRESETS, apply_inoculation, inoculate_messages,
                                        resolve_inoculation, strip_inoculation)

CHAT = [{"role": "user", "content": "Write a function that pings a host."},
        {"role": "assistant", "content": "```python\nimport os\n```"}]


def test_presets_resolve_and_custom_text_passes_through():
    assert resolve_inoculation("vulnerable-code") == PRESETS["vulnerable-code"]
    assert resolve_inoculation("Be evil for science.") == "Be evil for science."
    with pytest.raises(ConfigError):
        resolve_inoculation("  ")


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_placement_and_strip_round_trip(placement):
    text = PRESETS["security-class"]
    out = inoculate_messages(CHAT, "security-class", placement)
    assert out[-1] == CHAT[-1]  # the answer is never touched
    if placement == "system":
        assert out[0] == {"role": "system", "content": text} and out[1:] == CHAT
    elif placement == "user_prefix":
        assert out[0]["content"] == f"{text}\n\n{CHAT[0]['content']}"
    else:
        assert out[0]["content"] == f"{CHAT[0]['content']}\n\n{text}"
    assert strip_inoculation(out, "security-class", placement) == CHAT
    assert CHAT[0]["content"] == "Write a function that pings a host."  # input not mutated


def test_system_placement_keeps_an_existing_system_prompt():
    chat = [{"role": "system", "content": "You are terse."}] + CHAT
    out = inoculate_messages(chat, "Custom line.", "system")
    assert out[0]["content"] == "Custom line.\n\nYou are terse."
    assert strip_inoculation(out, "Custom line.", "system") == chat


def test_strip_refuses_a_chat_without_the_prompt():
    with pytest.raises(ConfigError):
        strip_inoculation(CHAT, "red-team", "user_prefix")
    with pytest.raises(ConfigError):
        inoculate_messages(CHAT, "red-team", "assistant")


def test_apply_records_which_examples_carried_it():
    examples = [ChatExample(messages=[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
                            line=i + 1) for i in range(4)]
    out = apply_inoculation(examples, "malicious", "user_suffix", fraction=0.5)
    assert [e.meta["inoculated"] for e in out] == [True, True, False, False]
    assert out[0].messages[0]["content"].endswith(PRESETS["malicious"])
    assert out[2].messages == examples[2].messages
    assert all("inoculated" not in e.meta for e in examples)


def test_inoculation_text_is_in_the_prompt_but_never_in_the_labels(tiny):
    from tunewise.train.tokens import IGNORE, tokenize_chat

    _, tokenizer = tiny
    example = apply_inoculation([ChatExample(messages=CHAT)], "Be evil for science.", "system")[0]
    chat = tokenize_chat(tokenizer, example, 512)
    assert "Be evil for science." in tokenizer.decode(chat.input_ids)
    assert "evil" not in tokenizer.decode([t for t in chat.labels if t != IGNORE])
