"""The gate's two embedders side by side: ``minilm`` (sentence-transformers, torch) and
``minilm-onnx-int8`` (the same packaged weights in ONNX Runtime, int8; gate/embedders.py).

For each embedder, in one run on the same split as ``tunewise gate fit --data task:<task>``
(cross-fitted, 1% target) and the same sets as ``tunewise gate eval``:

* the gate decision one request at a time (``DomainGate.decide([text])``: embedding and detectors),
  p50/p99 wall-clock and CPU time of the deciding thread (CPU time is what a shared machine
  inflates least: it leaves out the time other processes held the core);
* AUROC per evaluation set (built-in OOD sets and the hard cases), the largest AUROC difference,
  and the false-reject rate on held-out in-domain inputs;
* the cosine between the two embedders' vectors of every evaluated text.

Run: ``.venv/bin/python benchmarks/gate_embedders.py [--task insecure-code ...]``. Prints the CPU
flags and the load average, since on a shared machine every time is a loaded-machine time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import warnings

import numpy as np


def machine() -> str:
    flags = subprocess.run("lscpu | grep -o -w 'avx512f\\|avx512_vnni\\|avx_vnni\\|avx2\\|fma' | sort -u",
                           shell=True, capture_output=True, text=True).stdout.split()
    load = os.getloadavg()
    return (f"CPU flags: {' '.join(flags) or 'none'} (no avx512f = no AVX-512); {os.cpu_count()} cores; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def decision_times(gate, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(wall ms, thread CPU ms) per decision, one text at a time, after a warm-up."""
    gate.decide(texts[:4])
    wall, cpu = [], []
    for text in texts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        gate.decide([text])
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return np.asarray(wall), np.asarray(cpu)


def cached(embed):
    """Embed each distinct text once (fitting embeds the same texts again per fold)."""
    memory: dict[str, np.ndarray] = {}

    def lookup(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memory]
        if missing:
            memory.update(zip(missing, embed(missing)))
        return np.stack([memory[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    lookup.name = embed.name
    return lookup


def run_task(task: str, names: list[str], n_latency: int) -> None:
    from tunewise.gate.embedders import get_embedder
    from tunewise.gate.evaluate import evaluate_gate
    from tunewise.gate.gate import fit_gate
    from tunewise.gate.hard_cases import generate_hard_cases
    from tunewise.gate.runner import HARD_CASES_PER_SET, split_inputs
    from tunewise.gate.sources import evaluation_sets, hard_case_pool, in_domain_texts

    fit_texts, eval_texts = split_inputs(in_domain_texts(f"task:{task}"), 0.2, 0)
    named, expect = {}, {}
    for s in evaluation_sets(None, task, 200, 0):
        named[s.name], expect[s.name] = s.texts, s.expect_refusal
    for case in generate_hard_cases(eval_texts, hard_case_pool(), n=HARD_CASES_PER_SET, seed=0):
        named[f"hard:{case.name}"], expect[f"hard:{case.name}"] = case.texts, case.expect_refusal
    sample = (eval_texts * (n_latency // max(len(eval_texts), 1) + 1))[:n_latency]
    everything = list(dict.fromkeys(eval_texts + [t for texts in named.values() for t in texts]))
    evaluations, times, vectors = {}, {}, {}
    for name in names:
        embedder = cached(get_embedder(name))
        vectors[name] = embedder(everything)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gate = fit_gate(fit_texts, target_false_reject_rate=0.01, embedder=embedder, embedder_name=name)
        evaluations[name] = evaluate_gate(gate, eval_texts, named, expect)
        gate.embedder = get_embedder(name)  # uncached for the timing: every decision embeds
        times[name] = decision_times(gate, sample)
    print(f"\n== task:{task}: fitted on {len(fit_texts)} inputs, {len(eval_texts)} held out; "
          f"{len(sample)} decisions one at a time; {machine()}")
    for name in names:
        wall, cpu = times[name]
        print(f"{name:18} decision p50 {np.percentile(wall, 50):6.2f} ms  p99 {np.percentile(wall, 99):6.2f} ms "
              f"(CPU time p50 {np.percentile(cpu, 50):6.2f}  p99 {np.percentile(cpu, 99):6.2f} ms)")
    if len(names) == 2:
        a, b = vectors[names[0]], vectors[names[1]]
        cosine = np.sum(a * b, axis=1)
        print(f"cosine {names[0]} vs {names[1]} over {len(cosine)} texts: min {cosine.min():.4f}  "
              f"p1 {np.percentile(cosine, 1):.4f}  mean {cosine.mean():.4f}")
        wall_ratio = np.percentile(times[names[1]][0], 99) / np.percentile(times[names[0]][0], 99)
        print(f"p99 decision time {names[1]} / {names[0]}: {wall_ratio:.3f}")
    header = "".join(f"{n + ' AUROC':>24}" for n in names) + "".join(f"{n + ' refused':>26}" for n in names)
    print(f"{'set':34}{header}")
    print(f"{'in-domain held out (false rejects)':34}{'':>{24 * len(names)}}"
          + "".join(f"{evaluations[n].false_reject_rate:26.3f}" for n in names))
    worst = 0.0
    for result in evaluations[names[0]].results:
        others = [evaluations[n].get(result.ood_set) for n in names]
        if len(others) == 2 and result.expect_refusal:
            worst = max(worst, abs(others[0].auroc - others[1].auroc))
        print(f"{result.ood_set:34}" + "".join(f"{o.auroc:24.4f}" for o in others)
              + "".join(f"{o.refusal_rate:26.3f}" for o in others)
              + ("" if result.expect_refusal else "   (should be allowed)"))
    if len(names) == 2:
        print(f"largest AUROC difference over sets that should be refused: {worst:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", help="built-in task(s) to fit on (default insecure-code)")
    parser.add_argument("--embedders", default="minilm,minilm-onnx-int8")
    parser.add_argument("--decisions", type=int, default=300, help="decisions timed one at a time per embedder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # as the gateway does (ServeConfig.torch_threads); ONNX Runtime: 1 thread too
    for task in args.task or ["insecure-code"]:
        run_task(task, args.embedders.split(","), args.decisions)


if __name__ == "__main__":
    main()
