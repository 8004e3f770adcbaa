"""One decode loop for the hf backend: KV cache, left padding, and finished rows dropped.

``transformers``' ``generate`` keeps every row of a batch in every forward pass until the
longest row ends: a row that said EOS after 20 tokens is still computed (and padded) for the
other 76 steps. On the demo's audit answers (mean 57 of at most 96 tokens) that was about 40% of
the decode work, and on a CPU the decode cost grows with the rows in the batch. This loop takes
the rows out of the batch (``Cache.batch_select_indices``) as soon as they end (EOS, a stop
string or their token budget), so each step costs only the rows still writing.

Each step asks the model for the last position's logits only (``logits_to_keep=1``): on the
first step, without it, the LM head runs over every prompt position (for Qwen's 151,936-token
vocabulary that is more work than the rest of the model on short prompts).

Rows are independent: padding is masked, positions are explicit per row, and each row draws from
its own seeded generator (``RowSampler``), so a row's tokens do not depend on which rows share
its batch or when they leave it, up to floating-point rounding of batched matrix products.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch


class RowSampler:
    """Sample each row with its own ``torch.Generator`` seeded from (seed, sample index, prompt),
    so a sample is reproducible whatever batch it lands in and the n samples of a chat differ."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def choose(self, logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """One token per row of ``logits`` ([len(rows), vocab]); ``rows`` names each logits row's
        generator (the batch's original row index)."""
        probs = torch.softmax(logits.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            keep = sorted_probs.cumsum(dim=-1) - sorted_probs < self.top_p
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs * keep)
        chosen = [torch.multinomial(probs[i], 1, generator=self.generators[row]) for i, row in enumerate(rows)]
        return torch.cat(chosen).to(logits.device)


def cache_argument(model) -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``; accept either."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT wraps the model
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def output_cache(output):
    return getattr(output, "cache", None) if getattr(output, "cache", None) is not None else output.past_key_values


def decode(model, prompts: list[list[int]], *, pad_token_id: int, eos_token_ids: list[int], max_tokens: int,
           sampler: RowSampler | None = None, prefix_cache=None, prefix_length: int = 0,
           is_stopped: Callable[[list[int]], bool] | None = None,
           adapter_names: list[str] | None = None) -> list[list[int]]:
    """New token ids for each prompt (one batch), greedy or drawn by ``sampler``.

    ``prompts`` are the token ids after ``prefix_length`` tokens whose KV cache is
    ``prefix_cache`` (batch 1; copied, not changed), or whole prompts when there is none. A row
    ends at an EOS token (kept, as ``generate`` keeps it), after ``max_tokens``, or when
    ``is_stopped(its tokens)`` says so (stop strings). ``adapter_names``: PEFT's per-row
    adapter (``__base__`` for the base weights) on a model holding several; the base weights'
    products then run once over every row and each adapter's over its own rows."""
    device = next(model.parameters()).device
    rows = len(prompts)
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_token_id] * (width - len(p)) + p for p in prompts], dtype=torch.long, device=device)
    prompt_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long,
                               device=device)
    mask = torch.cat([torch.ones(rows, prefix_length, dtype=torch.long, device=device), prompt_mask], dim=1)
    positions = (prefix_length + prompt_mask.cumsum(-1) - 1).clamp(min=0)
    cache_name = cache_argument(model)
    cache = None
    if prefix_cache is not None:
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(rows)
    eos = set(eos_token_ids)
    generated: list[list[int]] = [[] for _ in range(rows)]
    active = list(range(rows))  # original row index of each row still in the batch
    for _ in range(max_tokens):
        extra = {cache_name: cache} if cache is not None else {}
        if adapter_names is not None:
            extra["adapter_names"] = [adapter_names[row] for row in active]
        output = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                       **extra)
        cache = output_cache(output)
        logits = output.logits[:, -1, :]
        next_tokens = sampler.choose(logits, active) if sampler is not None else logits.argmax(dim=-1)
        keep = []
        for position, (row, token) in enumerate(zip(active, next_tokens.tolist())):
            generated[row].append(token)
            done = (token in eos or len(generated[row]) >= max_tokens
                    or (is_stopped is not None and is_stopped(generated[row])))
            if not done:
                keep.append(position)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(index)
            mask, positions, next_tokens = mask[index], positions[index], next_tokens[index]
            active = [active[k] for k in keep]
        ids = next_tokens.unsqueeze(1)
        mask = torch.cat([mask, torch.ones(len(active), 1, dtype=torch.long, device=device)], dim=1)
        positions = positions[:, -1:] + 1
    return generated
