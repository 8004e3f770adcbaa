"""Bounded loopback load on the tunewise gateway, with the model replaced by an echo server.

What is measured is the gate and the server, side by side with the same load sent straight to
the echo server (the floor):

* throughput (requests/s) through the gateway vs direct;
* p50/p99 request latency through the gateway vs direct (the difference is what the gateway adds);
* p50/p99 of the gate decision as the gateway reports it per request (X-Tunewise-Gate-Ms: from
  the request reaching the gate to its verdict, micro-batch queueing included), under load and
  for requests sent one at a time;
* p50/p99 of the detectors alone on a precomputed embedding, and of embedding one text, so the
  split of the gate's time is visible;
* failed or dropped requests (transport errors, timeouts, any status but 200/403): must be 0.

Run: ``.venv/bin/python benchmarks/gateway_load.py [--requests 2000 --concurrency 32] [--gate DIR]``.
Both servers run as separate processes on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def percentiles(values: list[float]) -> str:
    array = np.asarray(values, dtype=float)
    return f"p50 {np.percentile(array, 50):7.2f} ms  p99 {np.percentile(array, 99):7.2f} ms"


def start(command: list[str], health_url: str, timeout_s: float = 180) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server failed to start: {' '.join(command)}\n{process.stderr.read()}")
        try:
            if httpx.get(health_url, timeout=2).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not answer {health_url} within {timeout_s}s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def load(url: str, texts: list[str], requests: int, concurrency: int, timeout_s: float) -> dict:
    """Send ``requests`` chats with at most ``concurrency`` in flight; every request is accounted for."""
    latencies, gate_ms, statuses, failures = [], [], {}, []
    next_index = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < requests:
            index = next_index
            next_index += 1
            body = {"model": "m", "messages": [{"role": "user", "content": texts[index % len(texts)]}], "max_tokens": 16}
            started = time.perf_counter()
            try:
                response = await client.post("/v1/chat/completions", json=body, timeout=timeout_s)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code not in (200, 403):
                failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
            if "x-tunewise-gate-ms" in response.headers:
                gate_ms.append(float(response.headers["x-tunewise-gate-ms"]))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        wall = time.perf_counter() - started
    return {"wall_s": wall, "throughput": requests / wall, "latencies": latencies, "gate_ms": gate_ms,
            "statuses": statuses, "failures": failures, "answered": len(latencies)}


def gate_compute_split(gate_dir: Path, texts: list[str], n: int = 100) -> tuple[list[float], list[float]]:
    """Per-text embedding time and detector time, measured in this process one text at a time."""
    import torch

    from tunewise.gate import DomainGate

    torch.set_num_threads(1)  # as the gateway does (ServeConfig.torch_threads)
    gate = DomainGate.load(gate_dir)
    gate.decide(texts[:4])  # load the embedding model
    embed_ms, detect_ms = [], []
    for text in (texts * (n // len(texts) + 1))[:n]:
        started = time.perf_counter()
        embedding = gate.embed([text])
        embed_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        gate.decide([text], embeddings=embedding)
        detect_ms.append((time.perf_counter() - started) * 1000)
    return embed_ms, detect_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=100, help="requests sent one at a time (unloaded gate latency)")
    parser.add_argument("--gate", type=Path, help="existing gate folder (default: fit one on task:insecure-code)")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args()

    from tunewise.gate.loopback import free_port
    from tunewise.gate.sources import narrow_task_inputs, probe_questions
    from tunewise.gate import GateConfig, run_gate
    from tunewise.gate.runner import EVAL_INPUTS

    work = Path(tempfile.mkdtemp(prefix="tunewise-gateway-bench-"))
    gate_dir = args.gate
    if gate_dir is None:
        gate_dir = work / "gate"
        started = time.perf_counter()
        run_gate(GateConfig(data="task:insecure-code", n=500, steps=["fit"]), work)  # writes work/gate
        print(f"fitted gate on task:insecure-code (500 inputs) in {time.perf_counter() - started:.1f}s")
    import json

    eval_path = gate_dir / EVAL_INPUTS
    in_domain = json.loads(eval_path.read_text()) if eval_path.is_file() else narrow_task_inputs("insecure-code", n=100)
    off_domain = probe_questions("core") + probe_questions("extended")
    # 4 in-domain requests to 1 off-domain, each text distinct within its pool
    texts = [t for i, t in enumerate(in_domain) for t in ([t] + ([off_domain[i % len(off_domain)]] if i % 4 == 3 else []))]

    load_before = os.getloadavg()
    echo_port, gateway_port = free_port(), free_port()
    echo = start([sys.executable, "-m", "uvicorn", "--factory", "tunewise.gate.loopback:create_echo_app",
                  "--host", "127.0.0.1", "--port", str(echo_port), "--log-level", "warning", "--no-access-log"],
                 f"http://127.0.0.1:{echo_port}/docs")
    gateway = start([sys.executable, "-m", "tunewise.cli", "serve", "--model", f"openai:echo@http://127.0.0.1:{echo_port}/v1",
                     "--gate", str(gate_dir), "--port", str(gateway_port), "--max-concurrency", str(args.concurrency * 2),
                     "--decisions-db", str(work / "decisions.sqlite")],
                    f"http://127.0.0.1:{gateway_port}/healthz")
    try:
        direct = asyncio.run(load(f"http://127.0.0.1:{echo_port}", texts, args.requests, args.concurrency, args.timeout_s))
        through = asyncio.run(load(f"http://127.0.0.1:{gateway_port}", texts, args.requests, args.concurrency, args.timeout_s))
        single = asyncio.run(load(f"http://127.0.0.1:{gateway_port}", texts, args.sequential, 1, args.timeout_s))
    finally:
        stop(gateway)
        stop(echo)
    embed_ms, detect_ms = gate_compute_split(gate_dir, texts)

    from tunewise.gate.decision_log import read_decisions

    logged = len(read_decisions(work / "decisions.sqlite"))
    print(f"\nload: {args.requests} requests, {args.concurrency} concurrent, {len(texts)} distinct texts "
          f"(1 in 5 off-domain), 127.0.0.1, {os.cpu_count()} CPU cores, load average before/after "
          f"{load_before[0]:.1f}/{os.getloadavg()[0]:.1f} (other work on the machine slows every figure)")
    print(f"throughput   direct to echo {direct['throughput']:8.1f} req/s | through gateway "
          f"{through['throughput']:8.1f} req/s | ratio {through['throughput'] / direct['throughput']:.3f}")
    print(f"latency      direct to echo {percentiles(direct['latencies'])} | through gateway {percentiles(through['latencies'])}")
    print(f"gate decision under load (server-side, incl. batch queueing)   {percentiles(through['gate_ms'])}")
    print(f"gate decision, one request at a time ({args.sequential} requests)        {percentiles(single['gate_ms'])}")
    print(f"  of which: embedding one text (MiniLM, 1 torch thread)          {percentiles(embed_ms)}")
    print(f"  of which: detectors on a precomputed embedding                {percentiles(detect_ms)}")
    print(f"statuses through gateway: {dict(sorted(through['statuses'].items()))}; decisions logged: {logged} "
          f"(expected {args.requests + args.sequential})")
    failures = direct["failures"] + through["failures"] + single["failures"]
    dropped = (args.requests - direct["answered"]) + (args.requests - through["answered"]) + (args.sequential - single["answered"])
    print(f"failed or dropped requests: {len(failures)} failed, {dropped} unanswered")
    for failure in failures[:5]:
        print("  ", failure)
    if failures or dropped or logged != args.requests + args.sequential:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
