"""The likelihood-ratio signal: how much more (or less) likely the tuned model finds an input
than the base model does.

Fine-tuning raises the likelihood of training-like inputs more than of anything else, so
``log p_base(x) - log p_tuned(x)`` (per token) is low in the domain and higher outside it; it
needs no embeddings and sees word-level shifts that sentence embeddings blur (RESEARCH.md).
It costs two forward passes per input, so it is an optional second signal, used only when
both models are at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mean_token_logprob(model, tokenizer, texts: list[str], batch_size: int = 8, max_tokens: int = 256) -> np.ndarray:
    """Mean log-probability per predicted token of each text (no chat template: the signal is
    about the words a user sends, and the template is identical for every input)."""
    import torch

    results: list[float] = []
    device = next(model.parameters()).device
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        rows = [tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens] or [tokenizer.eos_token_id]
                for text in batch]
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        rows = [[bos] + row for row in rows]  # first real token is predicted too
        width = max(len(row) for row in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        target_mask = mask[:, 1:].float()
        per_text = (logprobs * target_mask).sum(dim=1) / target_mask.sum(dim=1).clamp(min=1)
        results.extend(per_text.cpu().tolist())
    return np.asarray(results, dtype=np.float64)


@dataclass
class LikelihoodRatio:
    """Scores texts with ``mean log p_base - mean log p_tuned``. ``tuned`` and ``base`` are
    anything with ``.model`` and ``.tokenizer`` (an ``HFBackend``); they must share a tokenizer
    for the difference to compare like with like. ``tuned_ref``/``base_ref`` are saved with the
    gate so ``DomainGate.load`` can reload the models."""

    tuned: object
    base: object
    tuned_ref: str = ""
    base_ref: str = ""

    def score(self, texts: list[str]) -> np.ndarray:
        base = mean_token_logprob(self.base.model, self.base.tokenizer, texts)
        tuned = mean_token_logprob(self.tuned.model, self.tuned.tokenizer, texts)
        return base - tuned

    @classmethod
    def from_refs(cls, tuned_ref: str, base_ref: str) -> "LikelihoodRatio":
        from tunewise.models.hf import HFBackend

        return cls(HFBackend(tuned_ref, show_progress=False), HFBackend(base_ref, show_progress=False),
                   tuned_ref, base_ref)
