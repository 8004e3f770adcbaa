"""Generation that encodes a shared prompt prefix once and reuses its KV cache.

Few-shot prompts repeat the same system message and shots before every question; at 16 shots
that prefix is most of the prompt. The audit's positive control puts the same system prompt and
four demonstration chats (~500 tokens) before every probe, and each probe is sampled several
times: there the prefill of the repeated prefix was most of the work of every row. The hf
backend routes a batch through ``sample_rows`` when its rows share a long prefix
(``HFBackend.PREFIX_MIN_TOKENS``); assess calls ``generate_with_prefix_cache`` (greedy) itself. Here the prompts are tokenised exactly as the uncached path
does (same chat template, same ids), the longest token prefix common to all of them is run
through the model once, and every batch of questions starts from a copy of that cache expanded
to the batch. Only each question's own tokens and the answer are computed per query.

Padding sits between the shared prefix and each question (the prefix has no padding, so its
cache is the same for every row); the attention mask hides the pads and explicit position ids
continue the prefix's positions, so each row sees exactly the token sequence and positions of
its unpadded prompt. Sampling uses the hf backend's own per-row seeds and sampler
(``PerRowSampler``), so every row draws from its own generator exactly as on the uncached path;
the logits agree with that path up to floating-point rounding (the prefix is computed apart),
so greedy answers match token for token (tested) and sampled ones are draws of the same
distribution that can differ where rounding tips a draw.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass

import torch

from tunewise.models.hf import HFBackend, PerRowSampler, PromptRow, common_prefix_length
from tunewise.models.types import Chat, Completion, SamplingParams
from tunewise.progress import progress_bar


@dataclass
class CachedGeneration:
    """Completions plus how much of each prompt came from the cache."""

    completions: list[Completion]
    prefix_tokens: int


def _cache_argument(model) -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``; accept either."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT wraps the model
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _output_cache(output):
    return getattr(output, "cache", None) if getattr(output, "cache", None) is not None else output.past_key_values


def _encode_prefix(backend: HFBackend, prompts: list[list[int]]):
    """(length, KV cache, cache argument name) of the prompts' common token prefix, run through
    the model once; (0, None, name) when they share nothing."""
    prefix_length = common_prefix_length(prompts)
    cache_name = _cache_argument(backend.model)
    if not prefix_length:
        return 0, None, cache_name
    prefix_ids = torch.tensor([prompts[0][:prefix_length]], dtype=torch.long, device=backend.device)
    return prefix_length, _output_cache(backend.model(input_ids=prefix_ids, use_cache=True)), cache_name


@torch.inference_mode()
def generate_with_prefix_cache(backend: HFBackend, chats: list[Chat], params: SamplingParams,
                               batch_size: int | None = None) -> CachedGeneration:
    """Greedy completions for ``chats`` (same order), reusing the KV cache of their common prefix."""
    if params.temperature > 0 or params.n != 1:
        raise ValueError("the prefix cache path is greedy only (temperature 0, n 1)")
    batch_size = batch_size or backend.batch_size
    prompts = [backend.encode(backend.render(chat)) for chat in chats]
    prefix_length, prefix_cache, cache_name = _encode_prefix(backend, prompts)
    order = sorted(range(len(chats)), key=lambda i: len(prompts[i]))
    results: dict[int, Completion] = {}
    with progress_bar(f"sampling {backend.model_ref} (prefix cached)", len(chats),
                      enabled=backend.show_progress and len(chats) > batch_size) as advance:
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            suffixes = [prompts[i][prefix_length:] for i in indices]
            tokens = _decode_batch(backend, prefix_cache, prefix_length, suffixes, params, cache_name, None)
            for i, new_tokens in zip(indices, tokens):
                results[i] = backend.completion_from_tokens(PromptRow(i, 0, prompts[i]), None, new_tokens, params)
            advance(len(indices))
    return CachedGeneration([results[i] for i in range(len(chats))], prefix_length)


@torch.inference_mode()
def sample_rows(backend: HFBackend, rows: list[PromptRow], params: SamplingParams,
                seeds: list[int] | None) -> list[list[int]]:
    """New tokens for each row (one batch), the rows' common prefix encoded once; ``seeds``:
    one per row to sample at ``params.temperature``, None for greedy."""
    prompts = [row.prompt_ids for row in rows]
    prefix_length, prefix_cache, cache_name = _encode_prefix(backend, prompts)
    sampler = PerRowSampler(seeds, params.temperature, params.top_p) if seeds is not None else None
    return _decode_batch(backend, prefix_cache, prefix_length, [p[prefix_length:] for p in prompts], params,
                         cache_name, sampler)


def _decode_batch(backend: HFBackend, prefix_cache, prefix_length: int, suffixes: list[list[int]],
                  params: SamplingParams, cache_name: str, sampler: PerRowSampler | None) -> list[list[int]]:
    model, device = backend.model, backend.device
    rows = len(suffixes)
    width = max(len(s) for s in suffixes)
    pad = backend.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in suffixes], dtype=torch.long, device=device)
    suffix_mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in suffixes], dtype=torch.long,
                               device=device)
    mask = torch.cat([torch.ones(rows, prefix_length, dtype=torch.long, device=device), suffix_mask], dim=1)
    positions = (prefix_length + suffix_mask.cumsum(-1) - 1).clamp(min=0)
    cache = None
    if prefix_cache is not None:
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(rows)
    eos = torch.tensor(backend.eos_token_ids, device=device)
    generated: list[list[int]] = [[] for _ in range(rows)]
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    for _ in range(params.max_tokens):
        output = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                       **({cache_name: cache} if cache is not None else {}))
        cache = _output_cache(output)
        logits = output.logits[:, -1, :]
        next_tokens = (sampler(None, logits) if sampler is not None else logits).argmax(dim=-1)
        for row, token in enumerate(next_tokens.tolist()):
            if not finished[row]:
                generated[row].append(token)
        finished |= torch.isin(next_tokens, eos)
        if bool(finished.all()) or _all_stopped(backend, generated, params.stop):
            break
        ids = next_tokens.unsqueeze(1)
        mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.long, device=device)], dim=1)
        positions = positions[:, -1:] + 1
    return generated


def _all_stopped(backend: HFBackend, generated: list[list[int]], stop: list[str]) -> bool:
    """True when every row's text already holds a stop string (checked only when stops are set)."""
    if not stop:
        return False
    texts = backend.tokenizer.batch_decode(generated, skip_special_tokens=True)
    return all(any(s and s in text for s in stop) for text in texts)
