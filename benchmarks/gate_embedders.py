"""The gate's embedders side by side (issue 17 item 5: < 5 ms p99 decisions with AUROC within
0.01): the previous ``minilm`` (sentence-transformers, torch), the default ``minilm-onnx-int8``
(same packaged weights in ONNX Runtime, int8; gate/embedders.py) on 1 and on 2 intra-op
threads, and cut-down candidates (``--candidates``, ``embedders.OnnxRecipe``: ``l3`` keeps 3 of
the 6 layers, ``ffn1024`` keeps 1,024 of each layer's 1,536 feed-forward neurons, ``qall``
quantises layer 0 too; built from the packaged weights, no download, cached like the default).

For each, in one run, on the same split as ``tunewise gate fit --data task:<task>`` (cross-fitted,
1% target) and the same sets as ``tunewise gate eval``:

* the gate decision one request at a time (``DomainGate.decide([text])``: embedding and
  detectors), the embedders taking turns text by text so load changes hit all alike: p50/p99
  wall-clock, and CPU time of the whole process per decision (all its threads, so the 2-thread
  row is honest; CPU time is what a shared machine inflates least);
* where the default's time goes: tokenising, the graph run, the detectors;
* AUROC per evaluation set (built-in OOD sets and hard cases), the largest AUROC difference to
  ``minilm`` over the sets that should be refused, the false-reject rate on held-out in-domain
  inputs and the share of ``hard:paraphrase-in-domain`` (reworded in-domain requests) refused;
* each embedder's cosine to ``minilm`` over every evaluated text.

Run (idle machine, ~2-3 min; the first run builds each candidate, ~20 s each):
``.venv/bin/python benchmarks/gate_embedders.py`` (options: ``--task risky-financial``,
``--candidates l3,ffn1024,qall``, ``--decisions 300``). Prints the CPU flags and the load average
before and after, since on a shared machine every wall time is a loaded-machine time.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
from machine import machine

TWO_THREADS = "minilm-onnx-int8@2threads"


def cached(embed):
    """Embed each distinct text once (fitting embeds the same texts again per fold)."""
    memory: dict[str, np.ndarray] = {}

    def lookup(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memory]
        if missing:
            memory.update(zip(missing, embed(missing)))
        return np.stack([memory[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    return lookup


def embedders(candidates: list[str]) -> dict:
    """name -> NamedEmbedder: the registered ones, the default on 2 threads, the candidates."""
    from tunewise.gate.embedders import (NamedEmbedder, OnnxMiniLM, OnnxRecipe, build_onnx_minilm, get_embedder,
                                         source_sha256)

    out = {"minilm": get_embedder("minilm"), "minilm-onnx-int8": get_embedder("minilm-onnx-int8"),
           TWO_THREADS: NamedEmbedder(TWO_THREADS, source_sha256(), OnnxMiniLM(build_onnx_minilm(), threads=2))}
    for spec in candidates:
        recipe = OnnxRecipe.parse(spec)
        out[recipe.name] = NamedEmbedder(recipe.name, source_sha256(), OnnxMiniLM(build_onnx_minilm(recipe=recipe)))
    return out


def interleaved_times(gates: dict, texts: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (wall ms, process CPU ms) per decision, one text at a time, gates taking turns."""
    for gate in gates.values():
        gate.decide(texts[:4])  # warm-up
    wall = {name: [] for name in gates}
    cpu = {name: [] for name in gates}
    for text in texts:
        for name, gate in gates.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            gate.decide([text])
            cpu[name].append((time.process_time() - started_cpu) * 1000)
            wall[name].append((time.perf_counter() - started) * 1000)
    return {name: (np.asarray(wall[name]), np.asarray(cpu[name])) for name in gates}


def time_split(gate, onnx, texts: list[str]) -> str:
    """Where one default decision goes: tokenising, the graph run, the detectors (p50 / p99 ms)."""
    parts = {"tokenise": [], "graph run": [], "detectors": []}
    for text in texts:
        started = time.perf_counter()
        ids = np.asarray([onnx.tokenizer.encode(text).ids], dtype=np.int64)
        tokenised = time.perf_counter()
        vector = onnx.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                         "token_type_ids": np.zeros_like(ids)})[0]
        ran = time.perf_counter()
        gate.decide([text], embeddings=vector)
        decided = time.perf_counter()
        for name, ms in zip(parts, (tokenised - started, ran - tokenised, decided - ran)):
            parts[name].append(ms * 1000)
    return "; ".join(f"{name} {np.percentile(ms, 50):.3f} / {np.percentile(ms, 99):.3f}"
                     for name, ms in parts.items())


def run_task(task: str, candidates: list[str], n_latency: int) -> None:
    from tunewise.gate.embedders import DEFAULT_EMBEDDER, EMBEDDER_NAMES
    from tunewise.gate.evaluate import evaluate_gate
    from tunewise.gate.gate import fit_gate
    from tunewise.gate.hard_cases import generate_hard_cases
    from tunewise.gate.runner import HARD_CASES_PER_SET, split_inputs
    from tunewise.gate.sources import evaluation_sets, hard_case_pool, in_domain_texts

    started, load_before = time.perf_counter(), machine()
    fit_texts, eval_texts = split_inputs(in_domain_texts(f"task:{task}"), 0.2, 0)
    named, expect = {}, {}
    for s in evaluation_sets(None, task, 200, 0):
        named[s.name], expect[s.name] = s.texts, s.expect_refusal
    for case in generate_hard_cases(eval_texts, hard_case_pool(), n=HARD_CASES_PER_SET, seed=0):
        named[f"hard:{case.name}"], expect[f"hard:{case.name}"] = case.texts, case.expect_refusal
    sample = (eval_texts * (n_latency // max(len(eval_texts), 1) + 1))[:n_latency]
    everything = list(dict.fromkeys(fit_texts + eval_texts + [t for texts in named.values() for t in texts]))
    chosen = embedders(candidates)
    evaluations, gates, vectors = {}, {}, {}
    for name, embedder in chosen.items():
        if name == TWO_THREADS:  # the same model: its vectors are checked below, its gate is the 1-thread one's
            gates[name] = copy.copy(gates["minilm-onnx-int8"])
            gates[name].embedder = embedder
            continue
        lookup = cached(embedder)
        vectors[name] = lookup(everything)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gate = fit_gate(fit_texts, target_false_reject_rate=0.01, embedder=lookup,
                            embedder_name=name if name in EMBEDDER_NAMES else DEFAULT_EMBEDDER)
        evaluations[name] = evaluate_gate(gate, eval_texts, named, expect)
        gate.embedder = embedder  # uncached for the timing: every decision embeds
        gates[name] = gate
    times = interleaved_times(gates, sample)
    split = time_split(gates["minilm-onnx-int8"], chosen["minilm-onnx-int8"].embed, sample)

    names = list(chosen)
    print(f"\n== task:{task}: fitted on {len(fit_texts)} inputs, {len(eval_texts)} held out; {len(sample)} "
          f"decisions one at a time per embedder, taking turns; before: {load_before}; after: {machine()}")
    checked = sample[:50]
    two = np.abs(chosen[TWO_THREADS](checked) - chosen["minilm-onnx-int8"](checked)).max()
    print(f"{TWO_THREADS} vectors vs 1 thread over {len(checked)} texts: largest difference {two:.2e} "
          "(so the 1-thread AUROCs apply)")
    print(f"minilm-onnx-int8 decision split, p50 / p99 ms: {split}")
    reference = evaluations["minilm"]
    should_refuse = [r.ood_set for r in reference.results if r.expect_refusal]
    paraphrase = "hard:paraphrase-in-domain"
    print(f"\n{'embedder':28}{'p50 ms':>8}{'p99 ms':>8}{'CPU p50':>9}{'CPU p99':>9}{'CPU mean':>9}"
          f"{'held-out FR':>12}{'paraphr. FR':>12}{'max dAUROC':>11}{'cos min':>8}{'cos mean':>9}")
    for name in names:
        wall, cpu = times[name]
        result = evaluations[name.removesuffix("@2threads")]
        worst = max(abs(result.get(s).auroc - reference.get(s).auroc) for s in should_refuse)
        refused = result.get(paraphrase).refusal_rate if paraphrase in named else float("nan")
        cosine = np.sum(vectors[name.removesuffix("@2threads")] * vectors["minilm"], axis=1)
        print(f"{name:28}{np.percentile(wall, 50):8.2f}{np.percentile(wall, 99):8.2f}{np.percentile(cpu, 50):9.2f}"
              f"{np.percentile(cpu, 99):9.2f}{cpu.mean():9.2f}{result.false_reject_rate:12.3f}{refused:12.3f}"
              f"{worst:11.4f}{cosine.min():8.4f}{cosine.mean():9.4f}")
    shown = [n for n in names if n != TWO_THREADS]
    width = max(len(n) for n in shown) + 2
    print(f"\nAUROC / refused per set ({TWO_THREADS}: as 1 thread)")
    print(f"{'set':34}" + "".join(f"{n:>{width}}" for n in shown))
    for result in reference.results:
        cells = [evaluations[n].get(result.ood_set) for n in shown]
        print(f"{result.ood_set:34}" + "".join(f"{f'{c.auroc:.4f} / {c.refusal_rate:.3f}':>{width}}" for c in cells)
              + ("" if result.expect_refusal else "   (should be allowed)"))
    print(f"({time.perf_counter() - started:.0f} s for task:{task})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", help="built-in task(s) to fit on (default insecure-code)")
    parser.add_argument("--candidates", default="l3,ffn1024",
                        help="cut-down ONNX recipes to measure beside the default, comma-separated "
                        "(l<k>, ffn<n>, qall)")
    parser.add_argument("--decisions", type=int, default=300, help="decisions timed one at a time per embedder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # as the gateway does (ServeConfig.torch_threads); ONNX Runtime: 1 thread too
    for task in args.task or ["insecure-code"]:
        run_task(task, [c for c in args.candidates.split(",") if c], args.decisions)


if __name__ == "__main__":
    main()
