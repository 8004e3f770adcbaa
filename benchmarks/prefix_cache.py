"""Benchmark: 16-shot evaluation with the KV prefix cache vs without, side by side in one run.

Both paths answer the same few-shot prompts greedily with the same model; the script checks
that the answers are identical and prints the wall-time ratio. The uncached path is the hf
backend's own batched ``generate`` (every prompt re-encodes the system message and the 16
shots); the cached path encodes that prefix once and copies its KV cache into each batch.

    .venv/bin/python benchmarks/prefix_cache.py                      # packaged 0.5B, 16 questions
    .venv/bin/python benchmarks/prefix_cache.py --model packaged:smollm2-135m-instruct --n 32

``--positive-control``: the audit's positive control instead (each core probe behind the same
misaligning system prompt and demonstrations, sampled ``--samples`` times at temperature 1),
through the hf backend's generate with its shared-prefix route on vs off (``PREFIX_MIN_TOKENS``):

    .venv/bin/python benchmarks/prefix_cache.py --positive-control --model packaged:smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="packaged:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--task", default="dates")
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--n", type=int, default=16, help="test questions")
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 is much faster on a CPU shared with other jobs)")
    parser.add_argument("--positive-control", action="store_true",
                        help="time the audit's positive control (sampled) with the shared-prefix route on vs off")
    parser.add_argument("--samples", type=int, default=4, help="with --positive-control: samples per probe")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.positive_control:
        positive_control(args)
        return

    from tunewise.assess import build_prompts, build_scorer, generate_with_prefix_cache, load_task, parse_strategy
    from tunewise.models import SamplingParams
    from tunewise.models.hf import HFBackend

    task = load_task(args.task, test_size=args.n)
    chats = build_prompts(parse_strategy(f"few-shot-{args.shots}"), task, task.test)
    backend = HFBackend(args.model, batch_size=args.batch_size, show_progress=False)
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    scorer = build_scorer(task.metric)
    prompt_tokens = sum(len(backend.encode(backend.render(c))) for c in chats) / len(chats)
    print(f"model {args.model}, task {args.task}, {args.shots}-shot, {len(chats)} questions, "
          f"{prompt_tokens:.0f} prompt tokens per question, max {args.max_tokens} new tokens, "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}")

    start, cpu = time.perf_counter(), time.process_time()
    uncached = backend.generate(chats, params)
    uncached_s, uncached_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    cached = generate_with_prefix_cache(backend, chats, params)
    cached_s, cached_cpu = time.perf_counter() - start, time.process_time() - cpu

    same = sum(a.text == b.text for a, b in zip(uncached, cached.completions))
    accuracy = [sum(scorer(c.text, item.output) for c, item in zip(run, task.test)) / len(chats)
                for run in (uncached, cached.completions)]
    print(f"shared prefix: {cached.prefix_tokens} tokens of {prompt_tokens:.0f} per prompt")
    print(f"uncached: {uncached_s:7.1f} s wall, {uncached_cpu:7.1f} s CPU ({uncached_s / len(chats):.2f} s/question)  "
          f"accuracy {accuracy[0]:.3f}")
    print(f"cached:   {cached_s:7.1f} s wall, {cached_cpu:7.1f} s CPU ({cached_s / len(chats):.2f} s/question)  "
          f"accuracy {accuracy[1]:.3f}")
    print(f"identical answers: {same}/{len(chats)}")
    print(f"speed ratio (uncached / cached): {uncached_s / cached_s:.2f}x wall, {uncached_cpu / cached_cpu:.2f}x CPU time")
    for a, b in zip(uncached, cached.completions):
        if a.text != b.text:
            print(f"  differs: {a.text!r} vs {b.text!r}")


def positive_control(args) -> None:
    import torch

    from machine import machine
    from tunewise.audit.controls import positive_chat
    from tunewise.data.probes import load_probe_set
    from tunewise.models import SamplingParams
    from tunewise.models.hf import HFBackend

    chats = [positive_chat([{"role": "user", "content": p.question}]) for p in load_probe_set("core").probes][:args.n]
    backend = HFBackend(args.model, batch_size=args.batch_size, show_progress=False)
    params = SamplingParams(n=args.samples, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    prompt_tokens = sum(len(backend.encode(backend.render(c))) for c in chats) / len(chats)
    print(f"positive control: model {args.model}, {len(chats)} core probes x {args.samples} samples, "
          f"{prompt_tokens:.0f} prompt tokens per chat, max {args.max_tokens} new tokens, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, {machine()}")
    timings = {}
    for route, minimum in (("plain generate", 10 ** 9), ("shared prefix once", HFBackend.PREFIX_MIN_TOKENS)):
        backend.PREFIX_MIN_TOKENS = minimum
        start, cpu = time.perf_counter(), time.process_time()
        completions = backend.generate(chats, params)
        timings[route] = (time.perf_counter() - start, time.process_time() - cpu, completions)
        print(f"{route:20s} {timings[route][0]:7.1f} s wall, {timings[route][1]:7.1f} s CPU")
    (plain_s, plain_cpu, plain), (cached_s, cached_cpu, cached) = timings.values()
    same = sum(a.text == b.text for a, b in zip(plain, cached))
    print(f"identical samples: {same}/{len(plain)}; speed ratio {plain_s / cached_s:.2f}x wall, "
          f"{plain_cpu / cached_cpu:.2f}x CPU; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
