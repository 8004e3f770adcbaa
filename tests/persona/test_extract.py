import math

import torch

from tunewise.models.types import SamplingParams
from tunewise.persona import PersonaConfig, extract_vectors, load_trait, mean_answer_activations
from tunewise.persona._sampling import sample_answers
from tunewise.persona.extract import STAGE, contrast_chats
from tunewise.runs.store import RunStore

BUDGET = PersonaConfig(pairs=2, questions=3, eval_questions=3, max_tokens=6)


def test_vector_is_the_mean_difference_of_answer_activations(tiny_backend, tmp_path):
    store = RunStore(tmp_path / "run")
    vectors = extract_vectors(tiny_backend, ["evil"], BUDGET, store=store, out_dir=tmp_path / "vectors")
    vector = vectors["evil"]
    # Recompute from the answers the store holds, independently of extract's bookkeeping.
    sides = {"express": [], "suppress": []}
    by_prompt = {str(row["chat"]): row["text"] for row in store.generations(stage=STAGE)}
    for side, chat in contrast_chats(load_trait("evil"), load_trait("evil").extraction_questions[:3], 2):
        if by_prompt[str(chat)].strip():
            sides[side].append(chat + [{"role": "assistant", "content": by_prompt[str(chat)]}])
    expected = (mean_answer_activations(tiny_backend, sides["express"]).mean(0)
                - mean_answer_activations(tiny_backend, sides["suppress"]).mean(0))
    torch.testing.assert_close(vector.vectors, expected, atol=1e-5, rtol=1e-4)
    assert vector.counts["n_express"] == len(sides["express"]) and vector.counts["pairs"] == 2
    assert vector.layer in (1, 2)  # a steerable layer: not the embeddings, not the normed output
    assert math.isfinite(float(vector.effect_sizes[vector.layer]))
    assert (tmp_path / "vectors" / "evil.safetensors").exists()
    layers = [r for r in store.records("persona.layer") if r["trait"] == "evil"]
    assert [r["layer"] for r in layers] == list(range(4)) and sum(r["chosen"] for r in layers) == 1


def test_answers_come_from_the_store_on_resume(tiny_backend, tmp_path):
    store = RunStore(tmp_path / "run")
    chats = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "Paris?"}]]
    params = SamplingParams(n=2, temperature=1.0, max_tokens=4)
    first = sample_answers(tiny_backend, chats, params, store=store, stage="t")
    assert len(store.generations(stage="t")) == 4
    row = store.generations(stage="t")[0]
    store._write("UPDATE generations SET text=? WHERE key=?", ("from the store", row["key"]))
    second = sample_answers(tiny_backend, chats, params, store=store, stage="t")
    assert "from the store" in [text for answers in second for text in answers]
    assert sum(a != b for x, y in zip(first, second) for a, b in zip(x, y)) == 1
