"""Score one strategy with one model on the test split: generate, score, count, time, price.

Generations go to the run store as they are produced (stage ``assess``), keyed by model,
strategy, task, item and prompt, so an interrupted evaluation resumes where it stopped and a
finished one is not recomputed. Wall time is stored with each chunk and summed, so a resumed
strategy still reports the time its answers took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from tunewise.models.prefix_cache import common_prefix_length, generate_with_prefix_cache
from tunewise.assess.prices import Price, cost_per_1k
from tunewise.stats import accuracy_with_ci
from tunewise.assess.strategies import Strategy, build_prompts
from tunewise.assess.task import Task
from tunewise.models.types import Chat, Completion, SamplingParams

STAGE = "assess"


@dataclass
class Generated:
    completions: list[Completion]
    cached_tokens: list[int]  # per chat: prompt tokens shared with every other chat (cacheable)
    wall_s: list[float]  # per chat: its share of the wall time of the call that produced it
    prefix_cached: bool  # True when our KV prefix cache produced them


def _shared_tokens(backend, chats: list[Chat], completions: list[Completion]) -> list[int]:
    """Tokens of each prompt that a prefix cache can serve: exact on hf (token ids); for HTTP
    backends estimated from the characters of the leading messages all chats share."""
    if hasattr(backend, "encode") and hasattr(backend, "render"):
        shared = common_prefix_length([backend.encode(backend.render(chat)) for chat in chats])
        return [shared] * len(chats)
    shared_messages = 0
    while all(len(c) > shared_messages + 1 and c[shared_messages] == chats[0][shared_messages] for c in chats):
        shared_messages += 1
    estimates = []
    for chat, completion in zip(chats, completions):
        total = sum(len(m["content"]) for m in chat) or 1
        head = sum(len(m["content"]) for m in chat[:shared_messages])
        estimates.append(int(completion.prompt_tokens * head / total))
    return estimates


def generate_answers(backend, chats: list[Chat], params: SamplingParams, use_prefix_cache: bool) -> Generated:
    """Greedy answers; through the KV prefix cache on the hf backend when asked (other backends
    cache on their side: vLLM's automatic prefix caching, providers' prompt caches)."""
    start = time.perf_counter()
    cached = use_prefix_cache and hasattr(backend, "model") and hasattr(backend, "encode")
    if cached:
        completions = generate_with_prefix_cache(backend, chats, params).completions
    else:
        completions = backend.generate(chats, params)
    share = (time.perf_counter() - start) / max(1, len(chats))
    return Generated(completions, _shared_tokens(backend, chats, completions), [share] * len(chats), cached)


def evaluate_strategy(backend, model: str, strategy: Strategy, task: Task, scorer: Callable[[str, str], float | None],
                      params: SamplingParams, price: Price, store=None, use_prefix_cache: bool = True,
                      chunk_size: int = 64, seed: int = 0, embed=None) -> dict:
    """The ``assess.strategy`` row for ``strategy`` on ``task.test`` with ``backend``."""
    from tunewise.runs.store import make_key

    items = task.test
    chats = build_prompts(strategy, task, items, seed=seed, embed=embed)
    keys = [make_key(STAGE, model, strategy.name, task.name, item.id, chat, params.to_dict())
            for item, chat in zip(items, chats)]
    done: dict[str, dict] = {}
    if store is not None:
        wanted = set(keys)
        done = {row["key"]: row for row in store.generations(stage=STAGE, model=model) if row["key"] in wanted}
    missing = [i for i, key in enumerate(keys) if key not in done]
    # Whole missing set in one call when the prefix is cached (one prefix encoding); chunks
    # otherwise, so an interruption loses at most one chunk.
    step = len(missing) if use_prefix_cache else chunk_size
    for start in range(0, len(missing), max(1, step)):
        chunk = missing[start:start + max(1, step)]
        generated = generate_answers(backend, [chats[i] for i in chunk], params, use_prefix_cache)
        for i, completion, cached, wall in zip(chunk, generated.completions, generated.cached_tokens, generated.wall_s):
            completion.chat_index = i
            row = {"text": completion.text, "prompt_tokens": completion.prompt_tokens,
                   "completion_tokens": completion.completion_tokens,
                   "meta": {"item": items[i].id, "strategy": strategy.name, "cached_tokens": cached, "wall_s": wall,
                            "prefix_cached": generated.prefix_cached}}
            done[keys[i]] = row
            if store is not None:
                store.add_generation(keys[i], STAGE, model, chats[i], completion, params.to_dict(), row["meta"])
    rows = [done[key] for key in keys]
    scores = [scorer(row["text"], item.output) for row, item in zip(rows, items)]
    accuracy = accuracy_with_ci(scores)
    n = len(rows)
    prompt_tokens = sum(r["prompt_tokens"] for r in rows) / n
    generated_tokens = sum(r["completion_tokens"] for r in rows) / n
    cached_tokens = sum(_meta(r)["cached_tokens"] for r in rows) / n
    wall_s = sum(_meta(r)["wall_s"] for r in rows)
    return {"model": model, "strategy": strategy.name, "k": strategy.k, "task": task.name,
            "accuracy": accuracy.accuracy, "ci_low": accuracy.ci_low, "ci_high": accuracy.ci_high, "n": accuracy.n,
            "scorer_failures": sum(s is None for s in scores), "prompt_tokens": prompt_tokens,
            "cached_prompt_tokens": cached_tokens, "generated_tokens": generated_tokens, "wall_s": wall_s,
            "s_per_query": wall_s / n, "prefix_cache": all(_meta(r).get("prefix_cached", False) for r in rows),
            "cost_per_1k": cost_per_1k(price, prompt_tokens, cached_tokens, generated_tokens, use_cache=False),
            "cost_per_1k_cached": cost_per_1k(price, prompt_tokens, cached_tokens, generated_tokens, use_cache=True)}


def _meta(row: dict) -> dict:
    return row.get("meta") or {}
