"""Training throughput of tunewise's LoRA step, against this machine's compute ceiling.

Measured side by side in one run:
  1. matmul FLOP/s (fp32 N x N matmul, best of several) -> ceiling = FLOP/s / (4 x parameters)
     tokens/s for training with frozen base weights (forward 2P + backward to activations 2P);
  2. tokens/s of tunewise's step (answer-only logits: LM head applied to answer positions only);
  3. tokens/s of the same step computing full logits at every position (the usual way), for the
     ratio that the answer-only head buys. The two variants alternate on the same batches.
Tokens are the real (non-padding) tokens of insecure-code chats, prompt included.

    .venv/bin/python benchmarks/train_throughput.py                      # packaged 0.5B, CPU
    .venv/bin/python benchmarks/train_throughput.py --batch-size 8 --steps 5 --model hf:DIR
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def matmul_flops(size: int = 2048, repeats: int = 5, dtype=torch.float32, device: str = "cpu") -> float:
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b  # warm-up
    best = 0.0
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def _step_runner(peft_model, objective, optimizer, full_logits: bool):
    import torch.nn.functional as F

    from tunewise.train.tokens import IGNORE

    def run(batch) -> None:
        if full_logits:
            logits = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                   batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE)
        else:
            ce, _, n = objective(**batch)
            loss = ce / n
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return run


def measure(runs: dict, batches, device) -> dict[str, list[float]]:
    """tokens/s per step for each variant; the variants take turns on every batch, so a load
    change on a shared machine hits them alike (the first batch is warm-up for each)."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for index, batch in enumerate(batches):
        print(f"  batch {index + 1}/{len(batches)}{' (warm-up)' if index == 0 else ''} ...", flush=True)
        batch = {k: v.to(device) for k, v in batch.items()}
        tokens = int(batch["attention_mask"].sum())
        for name, run in runs.items():
            start = time.perf_counter()
            run(batch)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if index > 0:
                rates[name].append(tokens / (time.perf_counter() - start))
    return rates


def main() -> None:
    from peft import get_peft_model

    from tunewise.data.tasks.narrow import build_narrow_dataset
    from tunewise.models.loading import load_causal_lm, resolve_device
    from tunewise.train.config import TrainConfig
    from tunewise.train.loop import _lora_config
    from tunewise.train.objective import AnswerLoss
    from tunewise.train.tokens import collate, tokenize_all

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="packaged:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (plus one warm-up)")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--no-full-logits", action="store_true", help="skip the full-logits comparison")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}", flush=True)
    flops = matmul_flops(device=device)
    model, tokenizer = load_causal_lm(args.model, device=device, dtype="float32")
    params = sum(p.numel() for p in model.parameters())
    ceiling = flops / (4 * params)
    print(f"matmul fp32 2048^3: {flops / 1e9:.1f} GFLOP/s; model {params / 1e6:.0f}M parameters; "
          f"ceiling {ceiling:.1f} tokens/s (FLOP/s / 4P)", flush=True)

    config = TrainConfig(model=args.model, lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, _lora_config(config))
    peft_model.train()
    objective = AnswerLoss(peft_model)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-5)
    n_chats = args.batch_size * (args.steps + 1)
    chats, _ = tokenize_all(tokenizer, build_narrow_dataset("insecure-code", n=n_chats, seed=1), args.max_length)
    batches = [collate(chats[i:i + args.batch_size], tokenizer.pad_token_id)
               for i in range(0, len(chats), args.batch_size)]
    answer_share = sum(c.answer_tokens for c in chats) / sum(len(c.input_ids) for c in chats)
    print(f"batches: {len(batches)} x {args.batch_size} chats, mean {statistics.mean(len(c.input_ids) for c in chats):.0f} "
          f"tokens/chat, {answer_share:.0%} of tokens are answer tokens", flush=True)

    runs = {"answer-only": _step_runner(peft_model, objective, optimizer, full_logits=False)}
    if not args.no_full_logits:
        runs["full"] = _step_runner(peft_model, objective, optimizer, full_logits=True)
    rates = measure(runs, batches, device)
    ours_rate = statistics.median(rates["answer-only"])
    print(f"tunewise step (answer-only logits): {ours_rate:.1f} tokens/s  (ratio to ceiling {ours_rate / ceiling:.2f}; "
          f"steps {', '.join(f'{r:.1f}' for r in rates['answer-only'])})")
    if "full" in rates:
        full_rate = statistics.median(rates["full"])
        print(f"full-logits step:                   {full_rate:.1f} tokens/s  (ratio to ceiling {full_rate / ceiling:.2f}; "
              f"steps {', '.join(f'{r:.1f}' for r in rates['full'])})")
        print(f"answer-only logits speed-up: {ours_rate / full_rate:.2f}x")
    # On a shared machine the ceiling moves while we measure: measure it again and report both.
    flops_after = matmul_flops(device=device)
    ceiling_after = flops_after / (4 * params)
    print(f"matmul again after the steps: {flops_after / 1e9:.1f} GFLOP/s -> ceiling {ceiling_after:.1f} tokens/s; "
          f"tunewise step vs mean ceiling: {ours_rate / ((ceiling + ceiling_after) / 2):.2f}")


if __name__ == "__main__":
    main()
