"""The likelihood-ratio signal on tiny random transformers models (real forward passes)."""

import json

import numpy as np
import pytest

from tunewise.gate import DomainGate, LikelihoodRatio, fit_gate
from tunewise.gate.likelihood import mean_token_logprob
from tunewise.models.hf import HFBackend
from tunewise.testing import save_tiny_model, tiny_model


def test_mean_token_logprob_matches_a_manual_computation():
    import torch

    model, tokenizer = tiny_model()
    text = "def add(a, b):"
    ids = [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    expected = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None]).mean().item()
    batched = mean_token_logprob(model, tokenizer, [text, "a much longer text that needs padding " * 3])
    assert batched[0] == pytest.approx(expected, abs=1e-4)  # padding in the batch does not change it


def test_identical_models_give_zero_and_different_models_do_not():
    model, tokenizer = tiny_model(seed=0)
    other, _ = tiny_model(tokenizer=tokenizer, seed=1)
    same = HFBackend.from_model(model, tokenizer)
    texts = ["SELECT * FROM users;", "What is the capital of France?"]
    assert np.allclose(LikelihoodRatio(same, same).score(texts), 0.0)
    assert np.all(np.abs(LikelihoodRatio(HFBackend.from_model(other, tokenizer), same).score(texts)) > 1e-4)


def test_gate_with_likelihood_signal_saves_refs_and_reloads(tmp_path, code_inputs):
    tokenizer = tiny_model()[1]
    base_ref = save_tiny_model(tmp_path / "base", tokenizer=tokenizer, seed=0)
    tuned_ref = save_tiny_model(tmp_path / "tuned", tokenizer=tokenizer, seed=1)
    likelihood = LikelihoodRatio.from_refs(tuned_ref, base_ref)
    gate = fit_gate(code_inputs[0][:30], likelihood=likelihood)
    assert set(gate.normalisation) == {"mahalanobis", "knn", "likelihood_ratio"}
    gate.save(tmp_path / "gate")
    meta = json.loads((tmp_path / "gate" / "gate.json").read_text())
    assert meta["likelihood_ratio"] == {"tuned": tuned_ref, "base": base_ref}
    loaded = DomainGate.load(tmp_path / "gate")  # reloads both models from the saved refs
    texts = ["Write a haiku about rain.", code_inputs[1][0]]
    np.testing.assert_allclose(loaded.score(texts), gate.score(texts), rtol=1e-4, atol=1e-4)
    assert "likelihood_ratio" in loaded.decide(texts)[0].detectors
