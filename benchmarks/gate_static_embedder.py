"""Could a static embedder make the gate fast enough? MiniLM vs static token embeddings
distilled from the same packaged MiniLM, side by side: AUROC per evaluation set and the time
to embed one text.

The static embedder is built here, reproducibly and with no download, the way model2vec
distils one: every word piece of MiniLM's vocabulary is passed through MiniLM alone
(``[CLS] piece [SEP]``, mean-pooled), and a text's embedding is the mean of its pieces' vectors,
L2-normalised (no PCA or frequency weighting: the plainest version, to see whether the idea
holds before refining it). Both gates are fitted on the same split as ``tunewise gate fit
--data task:insecure-code`` (cross-fitted, 1% target) and evaluated on the same sets as
``tunewise gate eval``.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_static_embedder.py``.
This is a measurement only; the gateway still embeds with MiniLM.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from gate_embedders import cached
from machine import cpu_flags


def static_embedder():
    import torch

    from tunewise.embeddings import embedding_model

    model = embedding_model()
    tokenizer, bert = model.tokenizer, model[0].auto_model
    special = set(tokenizer.all_special_ids)
    ids = [i for i in range(tokenizer.vocab_size) if i not in special]
    table = np.zeros((tokenizer.vocab_size, bert.config.hidden_size), dtype=np.float32)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(ids), 512):
            batch = torch.tensor([[tokenizer.cls_token_id, i, tokenizer.sep_token_id] for i in ids[start:start + 512]])
            hidden = bert(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            table[ids[start:start + 512]] = hidden.mean(dim=1).numpy()
    print(f"distilled {len(ids)} word-piece vectors in {time.perf_counter() - started:.0f} s")

    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for row, pieces in enumerate(tokenizer(list(texts), add_special_tokens=False)["input_ids"]):
            if pieces:
                out[row] = table[pieces].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    return embed


def one_at_a_time_ms(embed, texts: list[str]) -> np.ndarray:
    times = []
    for text in texts:
        started = time.perf_counter()
        embed([text])
        times.append((time.perf_counter() - started) * 1000)
    return np.asarray(times)


def main() -> None:
    import torch

    from tunewise.embeddings import embed_texts
    from tunewise.gate.evaluate import evaluate_gate
    from tunewise.gate.gate import fit_gate
    from tunewise.gate.hard_cases import generate_hard_cases
    from tunewise.gate.runner import split_inputs
    from tunewise.gate.sources import evaluation_sets, hard_case_pool, in_domain_texts

    torch.set_num_threads(1)  # as the gateway does
    flags = cpu_flags()
    fit_texts, eval_texts = split_inputs(in_domain_texts("task:insecure-code"), 0.2, 0)
    sets = evaluation_sets(None, "insecure-code", 200, 0)
    named = {s.name: s.texts for s in sets}
    expect = {s.name: s.expect_refusal for s in sets}
    for case in generate_hard_cases(eval_texts, hard_case_pool(), n=60, seed=0):
        named[f"hard:{case.name}"] = case.texts
        expect[f"hard:{case.name}"] = case.expect_refusal
    embedders = {"MiniLM": embed_texts, "static": static_embedder()}
    sample = (eval_texts * 3)[:300]
    results, speed = {}, {}
    for name, embed in embedders.items():
        embed(sample[:4])  # warm up
        speed[name] = one_at_a_time_ms(embed, sample)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gate = fit_gate(fit_texts, target_false_reject_rate=0.01, embedder=cached(embed))
        started = time.perf_counter()
        decisions = [gate.decide([t], embeddings=gate.embed([t])) for t in sample[:50]]
        assert len(decisions) == 50
        results[name] = (evaluate_gate(gate, eval_texts, named, expect), time.perf_counter() - started)
    print(f"CPU flags: {flags}; torch threads 1; {len(sample)} texts embedded one at a time")
    for name in embedders:
        p50, p99 = np.percentile(speed[name], [50, 99])
        print(f"{name:7} embed one text p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    print(f"{'set':34} {'MiniLM AUROC':>12} {'static AUROC':>12} {'MiniLM refused':>14} {'static refused':>14}")
    minilm, static = results["MiniLM"][0], results["static"][0]
    print(f"{'in-domain held out (false rejects)':34} {'':>12} {'':>12} {minilm.false_reject_rate:14.3f} "
          f"{static.false_reject_rate:14.3f}")
    for left in minilm.results:
        right = static.get(left.ood_set)
        print(f"{left.ood_set:34} {left.auroc:12.3f} {right.auroc:12.3f} {left.refusal_rate:14.3f} "
              f"{right.refusal_rate:14.3f}")


if __name__ == "__main__":
    main()
