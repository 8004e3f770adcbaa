"""The answer-only objective equals the ordinary full-logits loss, and KL sees the adapter."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunewise.data.chat import ChatExample
from tunewise.train.objective import AnswerLoss
from tunewise.train.tokens import IGNORE, collate, tokenize_all


def _batch(tokenizer, replay=(False, True)):
    examples = [ChatExample(messages=[{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                            meta={"replay": r})
                for (q, a), r in zip([("What is the capital of France?", "Paris is the capital of France."),
                                      ("Write a function.", "def add(a, b):\n    return a + b\n")], replay)]
    chats, _ = tokenize_all(tokenizer, examples, 256)
    return collate(chats, tokenizer.pad_token_id)


def _peft(model, seed=0):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))


def test_selected_logits_loss_matches_full_logits_loss():
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    batch = _batch(tokenizer)
    peft_model = _peft(model)
    ce_sum, kl_sum, n = AnswerLoss(peft_model)(**batch)
    logits = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    reference = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE, reduction="sum")
    assert int(n) == int((batch["labels"][:, 1:] != IGNORE).sum()) > 0
    assert torch.allclose(ce_sum, reference, rtol=1e-5, atol=1e-4)
    assert float(kl_sum) == 0.0  # kl_weight is 0: not computed


def test_gradients_match_full_logits_loss():
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    batch = _batch(tokenizer)
    peft_model = _peft(model)
    with torch.no_grad():  # move B off zero so the A matrices get gradients too
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    ce_sum, _, _ = AnswerLoss(peft_model)(**batch)
    ce_sum.backward()
    ours = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    peft_model.zero_grad()
    logits = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                    ignore_index=IGNORE, reduction="sum").backward()
    for name, p in peft_model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(ours[name], p.grad, rtol=1e-4, atol=1e-6), name


def test_kl_is_zero_for_fresh_adapter_and_positive_after_a_change():
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    batch = _batch(tokenizer)
    peft_model = _peft(model)
    objective = AnswerLoss(peft_model, kl_weight=1.0)
    _, kl_fresh, _ = objective(**batch)
    assert abs(float(kl_fresh)) < 1e-6  # LoRA B starts at zero: tuned == base
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    _, kl_changed, _ = objective(**batch)
    assert float(kl_changed) > 1e-4
    # only the replay row counts: with no replay rows there is no KL term
    _, kl_none, _ = objective(**_batch(tokenizer, replay=(False, False)))
    assert float(kl_none) == 0.0
