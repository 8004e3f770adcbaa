"""Chats to token ids with assistant-only labels, and padded micro-batches.

Only the final assistant message (and the end-of-turn token that closes it, so the model
learns to stop) is trained on; system and user text, and any earlier turns, get label -100.
The answer's tokens are found by character offsets in the rendered chat, which works for any
chat template whose rendering contains the answer text verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunewise.data.chat import ChatExample
from tunewise.errors import DataValidationError

IGNORE = -100


@dataclass
class TokenizedChat:
    input_ids: list[int]
    labels: list[int]          # IGNORE where no loss is taken
    replay: bool = False       # a base-model self-answer (replay / KL rows)
    truncated: bool = False

    @property
    def answer_tokens(self) -> int:
        return sum(1 for label in self.labels[1:] if label != IGNORE)


def _answer_span(tokenizer, messages: list[dict]) -> tuple[str, int, int]:
    """The rendered chat and the character span of the final assistant content in it."""
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    content = messages[-1]["content"]
    start = full.find(content, len(prompt)) if full.startswith(prompt) else -1
    if start < 0:
        start = full.rfind(content)
    if start < 0:
        raise ValueError("the chat template does not reproduce the assistant text verbatim")
    return full, start, start + len(content)


def tokenize_chat(tokenizer, example: ChatExample, max_length: int, eos_in_loss: bool = True) -> TokenizedChat:
    """Token ids and labels for one chat; labels cover the last assistant message only.

    ``eos_in_loss``: also train the special token right after the answer (end of turn); off for
    answers that were cut short, which did not really end there.
    """
    messages = example.messages
    if not messages or messages[-1]["role"] != "assistant":
        raise DataValidationError(f"{example.source}:{example.line}: messages: the last message must be the "
                                  "assistant's (it is what the model is trained to say)")
    if not getattr(tokenizer, "is_fast", False):
        raise DataValidationError("training needs a fast (Rust) tokenizer for character offsets")
    full, start, end = _answer_span(tokenizer, messages)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    special = set(tokenizer.all_special_ids)
    labels = [IGNORE] * len(ids)
    after_answer = None
    for index, (begin, finish) in enumerate(offsets):
        if start <= begin < end or (begin < start < finish):
            labels[index] = ids[index]
        elif begin >= end and after_answer is None:
            after_answer = index
    if eos_in_loss and after_answer is not None and ids[after_answer] in special:
        labels[after_answer] = ids[after_answer]
    truncated = len(ids) > max_length
    return TokenizedChat(ids[:max_length], labels[:max_length], bool(example.meta.get("replay")), truncated)


def tokenize_all(tokenizer, examples: list[ChatExample], max_length: int) -> tuple[list[TokenizedChat], int]:
    """Tokenize every chat; drop those with no answer token left after truncation. Returns the
    kept chats and how many were dropped."""
    kept, dropped = [], 0
    for example in examples:
        chat = tokenize_chat(tokenizer, example, max_length, eos_in_loss=not example.meta.get("cut_short", False))
        if chat.answer_tokens == 0:
            dropped += 1
            continue
        kept.append(chat)
    return kept, dropped


def collate(chats: list[TokenizedChat], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, labels, replay (bool per row)."""
    width = max(len(c.input_ids) for c in chats)
    ids = torch.full((len(chats), width), pad_id, dtype=torch.long)
    labels = torch.full((len(chats), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(chats), width), dtype=torch.long)
    for row, chat in enumerate(chats):
        n = len(chat.input_ids)
        ids[row, :n] = torch.tensor(chat.input_ids)
        labels[row, :n] = torch.tensor(chat.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "replay": torch.tensor([c.replay for c in chats], dtype=torch.bool)}
