"""Benchmark: transformers ``generate`` vs tunewise's decode loop (finished rows leave the batch).

Same model, same rows (the audit's core probes, ``--samples`` each), same per-row seeded draws
(or greedy with ``--greedy``), side by side in one run. ``generate`` computes every row of a batch
until its longest row ends; ``tunewise.models.decoding.decode`` drops a row when it ends, and asks
for the last position's logits only. Prints wall and CPU seconds, the generated tokens, the
row-steps each path computed, and how many answers are identical (greedy: all should be, up to
rounding; sampled: the draws agree until rounding tips one).

    .venv/bin/python benchmarks/decode_rows.py                              # 0.5B, audit-sized
    .venv/bin/python benchmarks/decode_rows.py --model packaged:smollm2-135m-instruct --greedy
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
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--greedy", action="store_true")
    args = parser.parse_args()

    import torch
    from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

    from machine import machine
    from tunewise.data.probes import load_probe_set
    from tunewise.models import SamplingParams
    from tunewise.models.decoding import RowSampler, decode
    from tunewise.models.hf import HFBackend, sample_seed

    backend = HFBackend(args.model, batch_size=args.batch_size, show_progress=False)
    chats = [[{"role": "user", "content": p.question}] for p in load_probe_set(args.probes).probes]
    params = SamplingParams(n=1 if args.greedy else args.samples, temperature=0.0 if args.greedy else 1.0,
                            max_tokens=args.max_tokens, seed=0)
    prompts = [backend.encode(backend.render(c)) for c in chats]
    rows = [(p, s) for p in prompts for s in range(params.n)]
    print(f"model {args.model}: {len(chats)} {args.probes} probes x {params.n} samples = {len(rows)} rows, "
          f"max {args.max_tokens} new tokens, batch {args.batch_size}, "
          f"{'greedy' if args.greedy else 'temperature 1'}, torch threads {torch.get_num_threads()}; {machine()}")

    class Draw(LogitsProcessor):  # the same per-row draws, as a transformers logits processor
        def __init__(self, sampler: RowSampler):
            self.sampler = sampler

        def __call__(self, input_ids, scores):
            chosen = self.sampler.choose(scores, list(range(scores.shape[0])))
            return torch.full_like(scores, float("-inf")).scatter_(-1, chosen.unsqueeze(1), 0.0)

    def batches():
        for start in range(0, len(rows), args.batch_size):
            batch = rows[start:start + args.batch_size]
            seeds = [sample_seed(0, s, p) for p, s in batch]
            yield [p for p, _ in batch], (None if args.greedy else RowSampler(seeds, 1.0, 1.0))

    def with_generate():
        out = []
        for batch, sampler in batches():
            width = max(len(p) for p in batch)
            ids = torch.tensor([[backend.tokenizer.pad_token_id] * (width - len(p)) + p for p in batch])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
            config = GenerationConfig(max_new_tokens=args.max_tokens, do_sample=False,
                                      eos_token_id=backend.eos_token_ids, pad_token_id=backend.tokenizer.pad_token_id)
            generated = backend.model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                               logits_processor=LogitsProcessorList([Draw(sampler)] if sampler else []))
            steps = generated.shape[1] - width
            out += [(row, steps) for row in generated[:, width:].tolist()]
        return out

    def with_decode():
        out = []
        for batch, sampler in batches():
            out += [(row, None) for row in decode(backend.model, batch, pad_token_id=backend.tokenizer.pad_token_id,
                                                  eos_token_ids=backend.eos_token_ids, max_tokens=args.max_tokens,
                                                  sampler=sampler)]
        return out

    def trim(tokens):
        for i, t in enumerate(tokens):
            if t in backend.eos_token_ids:
                return tokens[:i + 1]
        return tokens

    results = {}
    with torch.inference_mode():
        for name, run in (("transformers generate", with_generate), ("tunewise decode", with_decode)):
            start, cpu = time.perf_counter(), time.process_time()
            out = run()
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            answers = [trim(tokens) for tokens, _ in out]
            useful = sum(len(a) for a in answers)
            computed = sum(steps for _, steps in out) if out[0][1] is not None else useful
            results[name] = (wall, answers)
            print(f"{name:22s} {wall:7.1f} s wall {cpu:7.1f} s CPU  {useful} tokens ({useful / wall:.1f} tok/s), "
                  f"{computed} row-steps computed")
    (old_s, old), (new_s, new) = results.values()
    same = sum(a == b for a, b in zip(old, new))
    print(f"identical answers: {same}/{len(old)}; speed ratio (generate / decode): {old_s / new_s:.2f}x wall")


if __name__ == "__main__":
    main()
