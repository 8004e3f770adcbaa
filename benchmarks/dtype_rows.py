"""Benchmark: float32 vs bfloat16 sampling on this CPU, at the batch sizes the audit uses.

``dtype=auto`` picks bfloat16 where the CPU has avx512_bf16 or amx_bf16. Whether that pays
depends on the shape: one decode step of a few dozen rows is a thin product that bf16 helps;
a prefill of hundreds of rows may not. Same model, same rows (the audit's core probes x
``--samples``, temperature 1, per-row seeds), each dtype at each batch size, side by side in
one run. Prints wall seconds, new tokens per second and the ratio bf16 / float32.

    .venv/bin/python benchmarks/dtype_rows.py                      # 0.5B, 10 probes x 9 rows, 96 tokens
    .venv/bin/python benchmarks/dtype_rows.py --batch-sizes 32 96 --samples 3 --max-tokens 48
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="packaged:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--probes", default="core")
    parser.add_argument("--samples", type=int, default=9, help="rows per probe (the demo audit: 3 models x 3)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 96])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = parser.parse_args()

    from machine import machine
    from tunewise.data.probes import load_probe_set
    from tunewise.models import SamplingParams
    from tunewise.models.hf import HFBackend

    print(machine())
    chats = [[{"role": "user", "content": p.question}] for p in load_probe_set(args.probes).probes]
    params = SamplingParams(n=args.samples, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    results: dict[tuple[str, int], tuple[float, int]] = {}
    for dtype in args.dtypes:
        backend = HFBackend(args.model, dtype=dtype, show_progress=False)
        for batch in args.batch_sizes:
            backend.batch_size = batch
            started = time.perf_counter()
            out = backend.generate(chats, params)
            wall = time.perf_counter() - started
            tokens = sum(c.completion_tokens for c in out)
            results[dtype, batch] = (wall, tokens)
            print(f"{dtype:<9} batch {batch:>4}: {wall:7.1f} s, {tokens} new tokens, {tokens / wall:6.1f} tok/s",
                  flush=True)
        del backend
    if len(args.dtypes) == 2:
        a, b = args.dtypes
        for batch in args.batch_sizes:
            print(f"batch {batch}: {b} / {a} wall = {results[b, batch][0] / results[a, batch][0]:.2f}")


if __name__ == "__main__":
    main()
