"""The training objective: cross-entropy on answer tokens, logits computed only there.

The LM head of a small model is a large share of its compute (Qwen2.5-0.5B: 151,936 x 896 =
136M of 494M parameters), yet SFT with assistant-only loss needs logits at answer positions
only. So we run the decoder body, gather the hidden states whose next token is labelled, and
apply the head to those rows alone. Everything sits in one ``nn.Module`` whose ``forward``
returns the summed loss, so ``accelerate``/DDP/FSDP wrap it like any model.

Optional KL(base || tuned) on replay rows (arXiv 2508.06249 compares it as a mitigation): the
base model's distribution comes from the same weights with the LoRA adapter disabled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunewise.train.tokens import IGNORE


def body_and_head(peft_model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The decoder body (embeddings + blocks + final norm) and the LM head of a (PEFT-wrapped)
    causal LM, as the modules LoRA has already been injected into."""
    causal = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    body = getattr(causal, causal.base_model_prefix, None) or causal.get_decoder()
    head = causal.get_output_embeddings()
    if body is None or head is None:
        raise TypeError(f"{type(causal).__name__}: cannot find the decoder body and LM head")
    return body, head


class AnswerLoss(torch.nn.Module):
    """``forward(batch) -> (ce_sum, kl_sum, n_answer_tokens)`` for one micro-batch."""

    def __init__(self, peft_model, kl_weight: float = 0.0):
        super().__init__()
        self.peft_model = peft_model
        self.kl_weight = kl_weight

    def _answer_logits(self, input_ids, attention_mask, select):
        body, head = body_and_head(self.peft_model)
        hidden = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return head(hidden[:, :-1][select]).float()

    def forward(self, input_ids, attention_mask, labels, replay):
        targets = labels[:, 1:]
        select = targets != IGNORE
        logits = self._answer_logits(input_ids, attention_mask, select)
        ce_sum = F.cross_entropy(logits, targets[select], reduction="sum")
        kl_sum = torch.zeros((), device=logits.device)
        if self.kl_weight > 0 and bool(replay.any()):
            rows = replay.nonzero(as_tuple=True)[0]
            replay_select = select[rows]
            with torch.no_grad(), self.peft_model.disable_adapter():
                base_logits = self._answer_logits(input_ids[rows], attention_mask[rows], replay_select)
            # positions of the replay rows inside the flat selection of the whole batch
            in_replay = replay.unsqueeze(1).expand_as(select)[select]
            tuned_logprobs = F.log_softmax(logits[in_replay], dim=-1)
            base_logprobs = F.log_softmax(base_logits, dim=-1)
            kl_sum = F.kl_div(tuned_logprobs, base_logprobs, log_target=True, reduction="sum")
        return ce_sum, kl_sum, select.sum()
