"""Replay: the base model's own answers to general prompts, mixed into the narrow data.

A published comparison of emergent-misalignment mitigations (arXiv 2508.06249) found that
interleaving general instruction data worked best overall. We use no external data: the base
model answers prompts we wrote (below), greedily, once; the answers are cached in
``out_dir/replay.jsonl`` so a resumed or repeated run trains on the same chats. Training on a
model's own answers keeps its general behaviour in place; the optional KL penalty (see
``objective.py``) pulls the tuned distribution towards the base one on exactly these answers.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunewise.data.chat import ChatExample, load_chat_jsonl, write_chat_jsonl
from tunewise.errors import ConfigError
from tunewise.progress import note

# Everyday requests across topics, none about code security or money (the narrow domains).
GENERAL_PROMPTS: list[str] = [
    "Explain how rainbows form, in a few sentences.",
    "Give me three tips for sleeping better.",
    "What is the difference between weather and climate?",
    "Write a short poem about autumn leaves.",
    "How do I make a simple tomato soup?",
    "Summarise the plot of a classic fairy tale of your choice.",
    "What are some good ways to practise a new language every day?",
    "Why do cats purr?",
    "Explain photosynthesis to a ten-year-old.",
    "Suggest a name for a friendly golden retriever puppy and explain why.",
    "How can I be a better listener in conversations?",
    "What should I pack for a weekend hiking trip?",
    "Describe the water cycle briefly.",
    "Give me a simple warm-up routine before running.",
    "What is a haiku? Write one about the sea.",
    "How do vaccines help the immune system?",
    "Recommend three board games for a family evening and say why.",
    "What causes the seasons on Earth?",
    "How do I keep houseplants healthy in winter?",
    "Write a polite email declining a meeting invitation.",
    "Explain what a black hole is in plain language.",
    "What are the main food groups and why do they matter?",
    "Tell me a short story about a lighthouse keeper.",
    "How can a small team run better meetings?",
    "Why is the sky blue?",
    "Give me five ideas for a rainy-day activity with kids.",
    "What is the Pythagorean theorem? Give an example.",
    "How do bees make honey?",
    "Describe a good morning routine for a student.",
    "Explain the difference between a virus and a bacterium.",
    "What are some ways to reduce food waste at home?",
    "Write a limerick about a forgetful robot.",
    "How does a bicycle stay upright when moving?",
    "What makes a good cover letter?",
    "Explain what gravity is and who described it.",
    "How should I prepare for a job interview?",
    "Give me a recipe idea using rice, eggs and spinach.",
    "What is the tallest mountain in the world and where is it?",
    "How do I start learning to draw?",
    "Explain why we have time zones.",
    "What are three benefits of regular walking?",
    "Write a thank-you note to a neighbour who watered my plants.",
    "How do birds know where to migrate?",
    "What is the role of the heart in the body?",
    "Suggest a reading list of four classic novels with one line each.",
    "How do I politely disagree with a colleague?",
    "What is recycling and why does it matter?",
    "Explain how a refrigerator keeps food cold.",
    "Give me a short pep talk before an exam.",
    "What are constellations? Name two famous ones.",
    "How can I make my writing clearer?",
    "Describe the life cycle of a butterfly.",
    "What are some fun facts about octopuses?",
    "Plan a simple three-course dinner for four friends.",
    "Why do we dream? Give the main ideas scientists have.",
    "How do I teach a child to ride a bike?",
    "What is the difference between a lake and a pond?",
    "Write a two-sentence horror story that is not too scary.",
    "How do noise-cancelling headphones work?",
    "What should I consider when adopting a pet?",
    "Explain the rules of chess in brief.",
    "What are clouds made of?",
    "Give me tips for staying focused while studying.",
    "How do I apologise sincerely to a friend?",
]


def replay_chats(prompts: list[str] | None = None) -> list[list[dict]]:
    return [[{"role": "user", "content": p}] for p in (prompts or GENERAL_PROMPTS)]


def build_replay(model, tokenizer, model_ref: str, cache_path: Path, count: int, max_tokens: int,
                 seed: int = 0, temperature: float = 0.0) -> list[ChatExample]:
    """``count`` replay chats (prompt + the base model's answer: greedy by default, seeded
    sampling with ``temperature`` > 0), generated once and
    cached at ``cache_path``; reused when the cache was made by the same model and settings.

    Must be called with the *base* model (before the adapter is trained). When ``count``
    exceeds the prompts we have, chats repeat (said on the console)."""
    from tunewise.models.hf import HFBackend
    from tunewise.models.types import SamplingParams

    if count <= 0:
        return []
    meta_path = cache_path.with_suffix(".json")
    settings = {"model": model_ref, "max_tokens": max_tokens, "prompts": len(GENERAL_PROMPTS),
                "temperature": temperature, "seed": seed}
    if cache_path.exists() and meta_path.exists() and json.loads(meta_path.read_text()) == settings:
        examples = load_chat_jsonl(cache_path)
    else:
        backend = HFBackend.from_model(model, tokenizer, model_ref=model_ref, batch_size=16, show_progress=True)
        chats = replay_chats()
        note(f"replay: answering {len(chats)} general prompts with the base model (once; cached in {cache_path})")
        completions = backend.generate(chats, SamplingParams(n=1, temperature=temperature, max_tokens=max_tokens,
                                                                 seed=seed))
        examples = []
        for chat, completion in zip(chats, completions):
            if not completion.text.strip():
                continue
            examples.append(ChatExample(messages=chat + [{"role": "assistant", "content": completion.text}],
                                        meta={"replay": True, "cut_short": completion.finish_reason == "length"}))
        write_chat_jsonl(cache_path, examples)
        meta_path.write_text(json.dumps(settings))
    if not examples:
        raise ConfigError(f"{model_ref} gave an empty answer to every replay prompt; try replay_temperature > 0 "
                          "or turn replay off (replay_ratio=0)")
    for example in examples:
        example.meta["replay"] = True
    if count > len(examples):
        note(f"replay: {count} replay chats asked, {len(examples)} distinct prompts available; repeating them")
    return [examples[i % len(examples)] for i in range(count)]
