"""What the answer-side monitor costs per answer: the judge (by registry name, as
``tunewise serve --answer-monitor`` looks it up) scoring (question, answer) pairs one at a time
and in batches of 32 (the monitor batches concurrent answers). The gateway throughput with the
monitor on vs off is measured by ``benchmarks/gateway_load.py``.

Run: ``.venv/bin/python benchmarks/gate_monitor.py [--judge local] [--answers 100]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from machine import cpu_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", action="append", help="judge name(s) (default: local)")
    parser.add_argument("--answers", type=int, default=100)
    args = parser.parse_args()
    import torch

    from tunewise.audit.judges import get_judge
    from tunewise.gate.sources import narrow_task_inputs

    torch.set_num_threads(1)  # as the gateway does (ServeConfig.torch_threads)
    questions = narrow_task_inputs("insecure-code", n=args.answers)
    pairs = [(q, f"Here is one way to do it: {q.lower()} Use a function and check its inputs.") for q in questions]
    flags = cpu_flags()
    for name in args.judge or ["local"]:
        judge = get_judge(name)
        judge.score_many(pairs[:2])  # load and warm up
        alone = []
        for pair in pairs:
            started = time.perf_counter()
            judge.score_many([pair])
            alone.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for start in range(0, len(pairs), 32):
            judge.score_many(pairs[start:start + 32])
        batched = (time.perf_counter() - started) * 1000 / len(pairs)
        load = os.getloadavg()
        print(f"judge {name}: one answer at a time p50 {np.percentile(alone, 50):.1f} ms  p99 "
              f"{np.percentile(alone, 99):.1f} ms; in batches of 32 {batched:.1f} ms per answer "
              f"({len(pairs)} answers; CPU flags {flags}; 1 torch thread; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


if __name__ == "__main__":
    main()
