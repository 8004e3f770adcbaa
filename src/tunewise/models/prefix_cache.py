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
(``decoding.RowSampler``), so every row draws from its own generator exactly as on the uncached path;
the logits agree with that path up to floating-point rounding (the prefix is computed apart),
so greedy answers match token for token (tested) and sampled ones are draws of the same
distribution that can differ where rounding tips a draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunewise.models.decoding import RowSampler, decode, output_cache
from tunewise.models.hf import HFBackend, PromptRow, adapter_names, common_prefix_length
from tunewise.models.types import Chat, Completion, SamplingParams
from tunewise.progress import progress_bar


@dataclass
class CachedGeneration:
    """Completions plus how much of each prompt came from the cache."""

    completions: list[Completion]
    prefix_tokens: int


def _encode_prefix(backend: HFBackend, prompts: list[list[int]], adapter: str | None = None):
    """(length, KV cache) of the prompts' common token prefix, run through the model once (by
    ``adapter`` on a model holding several); (0, None) when they share nothing."""
    prefix_length = common_prefix_length(prompts)
    if not prefix_length:
        return 0, None
    prefix_ids = torch.tensor([prompts[0][:prefix_length]], dtype=torch.long, device=backend.device)
    names = adapter_names([adapter])
    extra = {"adapter_names": names} if names is not None else {}
    return prefix_length, output_cache(backend.model(input_ids=prefix_ids, use_cache=True, logits_to_keep=1, **extra))


@torch.inference_mode()
def generate_with_prefix_cache(backend: HFBackend, chats: list[Chat], params: SamplingParams,
                               batch_size: int | None = None) -> CachedGeneration:
    """Greedy completions for ``chats`` (same order), reusing the KV cache of their common prefix."""
    if params.temperature > 0 or params.n != 1:
        raise ValueError("the prefix cache path is greedy only (temperature 0, n 1)")
    batch_size = batch_size or backend.batch_size
    prompts = [backend.encode(backend.render(chat)) for chat in chats]
    prefix_length, prefix_cache = _encode_prefix(backend, prompts)
    order = sorted(range(len(chats)), key=lambda i: len(prompts[i]))
    results: dict[int, Completion] = {}
    with progress_bar(f"sampling {backend.model_ref} (prefix cached)", len(chats),
                      enabled=backend.show_progress and len(chats) > batch_size) as advance:
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            suffixes = [prompts[i][prefix_length:] for i in indices]
            tokens = _decode(backend, prefix_cache, prefix_length, suffixes, params, None)
            for i, new_tokens in zip(indices, tokens):
                results[i] = backend.completion_from_tokens(PromptRow(i, 0, prompts[i]), None, new_tokens, params)
            advance(len(indices))
    return CachedGeneration([results[i] for i in range(len(chats))], prefix_length)


@torch.inference_mode()
def sample_rows(backend: HFBackend, rows: list[PromptRow], params: SamplingParams,
                seeds: list[int] | None) -> list[list[int]]:
    """New tokens for each row (one batch, one adapter), the rows' common prefix encoded once;
    ``seeds``: one per row to sample at ``params.temperature``, None for greedy."""
    prompts = [row.prompt_ids for row in rows]
    adapters = {row.adapter for row in rows}
    if len(adapters) != 1:
        raise ValueError("a shared prefix's KV cache belongs to one adapter; batch the rows per adapter")
    adapter = adapters.pop()
    prefix_length, prefix_cache = _encode_prefix(backend, prompts, adapter)
    sampler = RowSampler(seeds, params.temperature, params.top_p) if seeds is not None else None
    return _decode(backend, prefix_cache, prefix_length, [p[prefix_length:] for p in prompts], params, sampler,
                   adapter_names([adapter] * len(rows)))


def _decode(backend: HFBackend, prefix_cache, prefix_length: int, suffixes: list[list[int]],
            params: SamplingParams, sampler: RowSampler | None, adapters: list[str] | None = None) -> list[list[int]]:
    return decode(backend.model, suffixes, pad_token_id=backend.tokenizer.pad_token_id,
                  eos_token_ids=backend.eos_token_ids, max_tokens=params.max_tokens, sampler=sampler,
                  prefix_cache=prefix_cache, prefix_length=prefix_length, is_stopped=backend.stop_check(params.stop),
                  adapter_names=adapters)
