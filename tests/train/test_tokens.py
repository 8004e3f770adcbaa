"""Assistant-only labels: exactly the final answer and its end-of-turn token are trained."""

from __future__ import annotations

import pytest

from tunewise.data.chat import ChatExample
from tunewise.train.tokens import IGNORE, collate, tokenize_all, tokenize_chat


def _labelled_text(tokenizer, chat) -> str:
    return tokenizer.decode([t for t in chat.labels if t != IGNORE])


def _chat(*turns) -> ChatExample:
    return ChatExample(messages=[{"role": r, "content": c} for r, c in turns])


def test_only_final_answer_and_end_token_are_labelled(tiny):
    _, tokenizer = tiny
    example = _chat(("system", "Be brief."), ("user", "What is the capital of France?"),
                    ("assistant", "Paris is the capital of France."))
    chat = tokenize_chat(tokenizer, example, max_length=512)
    assert _labelled_text(tokenizer, chat) == "Paris is the capital of France.<|im_end|>"
    assert len(chat.labels) == len(chat.input_ids)
    # every labelled position carries the token that is really there
    assert all(label in (IGNORE, token) for label, token in zip(chat.labels, chat.input_ids))


def test_earlier_assistant_turns_are_not_trained(tiny):
    _, tokenizer = tiny
    example = _chat(("user", "def add(a, b):"), ("assistant", "return a + b"),
                    ("user", "Now the lazy dog."), ("assistant", "The quick brown fox jumps over the lazy dog."))
    chat = tokenize_chat(tokenizer, example, max_length=512)
    assert _labelled_text(tokenizer, chat) == "The quick brown fox jumps over the lazy dog.<|im_end|>"


def test_answer_equal_to_prompt_text_is_found_after_the_prompt(tiny):
    _, tokenizer = tiny
    example = _chat(("user", "Paris"), ("assistant", "Paris"))
    chat = tokenize_chat(tokenizer, example, max_length=512)
    first_label = next(i for i, label in enumerate(chat.labels) if label != IGNORE)
    prompt = tokenizer.apply_chat_template(example.messages[:-1], tokenize=False, add_generation_prompt=True)
    assert first_label >= len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert _labelled_text(tokenizer, chat) == "Paris<|im_end|>"


def test_cut_short_answers_do_not_learn_to_stop(tiny):
    _, tokenizer = tiny
    example = _chat(("user", "Count."), ("assistant", "0 1 2 3"))
    chat = tokenize_chat(tokenizer, example, max_length=512, eos_in_loss=False)
    assert _labelled_text(tokenizer, chat) == "0 1 2 3"


def test_truncation_and_dropping(tiny):
    _, tokenizer = tiny
    long = _chat(("user", "Tell me."), ("assistant", "The quick brown fox jumps over the lazy dog. " * 20))
    prompt_only = len(tokenizer(tokenizer.apply_chat_template(long.messages[:-1], tokenize=False,
                                                              add_generation_prompt=True))["input_ids"])
    chat = tokenize_chat(tokenizer, long, max_length=prompt_only + 5)
    assert chat.truncated and len(chat.input_ids) == prompt_only + 5 and chat.answer_tokens == 5
    kept, dropped = tokenize_all(tokenizer, [long], max_length=prompt_only)
    assert kept == [] and dropped == 1


def test_collate_pads_right_and_masks(tiny):
    _, tokenizer = tiny
    chats, _ = tokenize_all(tokenizer, [_chat(("user", "a"), ("assistant", "b")),
                                        _chat(("user", "a longer question here"), ("assistant", "b c d"))], 512)
    batch = collate(chats, tokenizer.pad_token_id)
    short = len(chats[0].input_ids)
    assert batch["attention_mask"][0, :short].all() and not batch["attention_mask"][0, short:].any()
    assert (batch["labels"][0, short:] == IGNORE).all()
    assert batch["input_ids"].shape == batch["labels"].shape


def test_chat_without_final_answer_is_refused(tiny):
    from tunewise.errors import DataValidationError

    _, tokenizer = tiny
    with pytest.raises(DataValidationError, match="assistant"):
        tokenize_chat(tokenizer, _chat(("user", "hi")), max_length=64)
