"""Does the gate's threshold hold on fresh in-domain inputs? Holdout vs cross-fitted (conformal)
calibration, side by side, on the same fits.

For each built-in narrow dataset and fit size, over several seeds: fit a gate on ``n`` distinct
in-domain inputs with each calibration rule and a 1% target, then count how many *fresh*
in-domain inputs of the same dataset (never seen by either fit) it rejects. Prints, per rule:
the pooled fresh false-reject rate with its 95% Wilson interval, the worst seed, the mean rate
the gate itself expected, and how often the gate warned that its inputs were too few.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_calibration.py [--seeds 10]``.
Embeddings are computed once per text (MiniLM, packaged) and reused by every fit.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from machine import cpu_flags

from tunewise.embeddings import embed_texts
from tunewise.gate.gate import CalibrationWarning, fit_gate
from tunewise.gate.sources import narrow_task_inputs
from tunewise.stats import wilson_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="insecure-code,risky-financial")
    parser.add_argument("--sizes", default="40,100,300,1000")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--fresh", type=int, default=400, help="fresh in-domain inputs per fit")
    parser.add_argument("--target", type=float, default=0.01)
    args = parser.parse_args()
    flags = cpu_flags()
    print(f"CPU flags: {flags}; target false-reject rate {args.target:.1%}; {args.seeds} seeds")
    print(f"{'dataset':16} {'n fit':>5} {'rule':9} {'fresh FRR [95% CI]':>24} {'worst seed':>10} "
          f"{'expected':>8} {'warned':>6}")
    for dataset in args.datasets.split(","):
        pool = list(dict.fromkeys(t for t in narrow_task_inputs(dataset) if t.strip()))
        started = time.perf_counter()
        vectors = dict(zip(pool, embed_texts(pool)))
        print(f"# {dataset}: {len(pool)} distinct inputs embedded in {time.perf_counter() - started:.0f} s")

        def embedder(texts: list[str]) -> np.ndarray:
            return np.stack([vectors[t] for t in texts])

        for size in (int(s) for s in args.sizes.split(",")):
            if size + args.fresh > len(pool):
                continue
            rows = {rule: {"rejected": 0, "seen": 0, "worst": 0.0, "expected": [], "warned": 0}
                    for rule in ("holdout", "cross-fit")}
            for seed in range(args.seeds):
                order = np.random.default_rng(1000 + seed).permutation(len(pool))
                fit = [pool[i] for i in order[:size]]
                fresh = [pool[i] for i in order[size:size + args.fresh]]
                for rule, row in rows.items():
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", CalibrationWarning)
                        gate = fit_gate(fit, target_false_reject_rate=args.target, seed=seed, embedder=embedder,
                                        calibration=rule)
                    rejected = int(np.sum(gate.score(fresh) > gate.threshold))
                    row["rejected"] += rejected
                    row["seen"] += len(fresh)
                    row["worst"] = max(row["worst"], rejected / len(fresh))
                    row["expected"].append(gate.info["expected_false_reject_rate"])
                    row["warned"] += any(issubclass(w.category, CalibrationWarning) for w in caught)
            for rule, row in rows.items():
                low, high = wilson_interval(row["rejected"], row["seen"])
                rate = row["rejected"] / row["seen"]
                print(f"{dataset:16} {size:5d} {rule:9} {rate:7.2%} [{low:6.2%}, {high:6.2%}] "
                      f"{row['worst']:10.2%} {np.mean(row['expected']):8.2%} {row['warned']:3d}/{args.seeds}")


if __name__ == "__main__":
    main()
