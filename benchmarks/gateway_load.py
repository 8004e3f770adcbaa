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
* failed or dropped requests (transport errors, timeouts, any status but 200/403): must be 0;
* CPU milliseconds per request of each process (gateway, echo server, this load generator), read
  from /proc: on a small machine all three share the cores, so the ratio to direct is bounded by
  (load generator + echo) / (load generator + echo + gateway), and CPU time moves less with other
  work on the machine than wall time does.

Each run fits two gates on the same split, one per embedder (``minilm``: the previous detector,
``minilm-onnx-int8``: the new default), and loads, one after another against the same echo
server: the previous gateway (minilm, no embedding cache), the new one without and with its
embedding cache, and the new one with the answer monitor recording (``--monitor-judge``).

Run: ``.venv/bin/python benchmarks/gateway_load.py [--requests 2000 --concurrency 32] [--distinct]``.
All servers run as separate processes on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from machine import machine


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
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"wall_s": wall, "throughput": requests / wall, "latencies": latencies, "gate_ms": gate_ms,
            "statuses": statuses, "failures": failures, "answered": len(latencies),
            "client_cpu_ms": cpu * 1000 / requests}


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


def direct_load(echo, texts: list[str], args) -> dict:
    echo_port, echo_pid = echo
    echo_before = process_cpu_s(echo_pid)
    result = asyncio.run(load(f"http://127.0.0.1:{echo_port}", texts, args.requests, args.concurrency, args.timeout_s))
    result["echo_cpu_ms"] = (process_cpu_s(echo_pid) - echo_before) * 1000 / args.requests
    return result


def server_stack() -> str:
    """What uvicorn's ``auto`` picks here (for the gateway and the echo server alike)."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn with {loop} + {http}"


def fit_gates(work: Path, embedders: list[str]) -> dict[str, Path]:
    """One gate per embedder on the same split of task:insecure-code (500 inputs)."""
    from tunewise.gate import GateConfig, run_gate

    folders = {}
    for name in embedders:
        started = time.perf_counter()
        run_gate(GateConfig(data="task:insecure-code", n=500, steps=["fit"], embedder=name), work / name)
        folders[name] = work / name / "gate"
        print(f"fitted the {name} gate on task:insecure-code (500 inputs) in {time.perf_counter() - started:.1f}s")
    return folders


def through_gateway(label: str, gate_dir: Path, echo: tuple[int, int], work: Path, args, texts: list[str],
                    flags: list[str]) -> dict:
    """Start a gateway with ``flags``, load it, then send requests one at a time; the gateway
    process's CPU time per request is read from /proc (Linux)."""
    from tunewise.gate.decision_log import read_decisions
    from tunewise.gate.loopback import free_port, stop_process

    (echo_port, echo_pid), (port, db) = echo, (free_port(), work / f"decisions-{label}.sqlite")
    gateway = start([sys.executable, "-m", "tunewise.cli", "serve", "--model", f"openai:echo@http://127.0.0.1:{echo_port}/v1",
                     "--gate", str(gate_dir), "--port", str(port), "--max-concurrency", str(args.concurrency),
                     "--decisions-db", str(db), *flags], f"http://127.0.0.1:{port}/healthz")
    try:
        cpu_before, echo_before = process_cpu_s(gateway.pid), process_cpu_s(echo_pid)
        through = asyncio.run(load(f"http://127.0.0.1:{port}", texts, args.requests, args.concurrency, args.timeout_s))
        through["cpu_ms"] = (process_cpu_s(gateway.pid) - cpu_before) * 1000 / args.requests
        through["echo_cpu_ms"] = (process_cpu_s(echo_pid) - echo_before) * 1000 / args.requests
        through["single"] = asyncio.run(load(f"http://127.0.0.1:{port}", texts[::-1], args.sequential, 1, args.timeout_s))
    finally:
        stop_process(gateway)
    rows = read_decisions(db)
    through["logged"] = len(rows)
    through["judge_ms"] = [r["monitor"]["judge_ms"] for r in rows[:-args.sequential] if r.get("monitor")]
    through["judge_ms_single"] = [r["monitor"]["judge_ms"] for r in rows[-args.sequential:] if r.get("monitor")]
    through["load"] = os.getloadavg()
    return through


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=100, help="requests sent one at a time (unloaded gate latency)")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--monitor-judge", default="local", help="audit judge for the monitor-on run ('' = skip it)")
    parser.add_argument("--distinct", action="store_true", help=(
        "every request a different text (the embedding cache cannot help); default: the earlier benchmark's pool, "
        "each text sent about 16 times"))
    args = parser.parse_args()

    from tunewise.gate.loopback import free_port, stop_process
    from tunewise.gate.runner import EVAL_INPUTS
    from tunewise.gate.sources import narrow_task_inputs, probe_questions

    work = Path(tempfile.mkdtemp(prefix="tunewise-gateway-bench-"))
    gates = fit_gates(work, ["minilm", "minilm-onnx-int8"])
    in_domain = json.loads((gates["minilm"] / EVAL_INPUTS).read_text())
    off_domain = probe_questions("core") + probe_questions("extended")
    if args.distinct:
        from tunewise.gate.sources import in_domain_texts

        fitted = set(in_domain_texts("task:insecure-code", n=500, seed=0))  # what fit_gates drew
        in_domain = [t for t in dict.fromkeys(narrow_task_inputs("insecure-code")) if t not in fitted]
    # 4 in-domain requests to 1 off-domain, each text distinct within its pool
    texts = [t for i, t in enumerate(in_domain) for t in ([t] + ([off_domain[i % len(off_domain)]] if i % 4 == 3 else []))]

    load_before = os.getloadavg()
    echo_port = free_port()
    echo = start([sys.executable, "-m", "uvicorn", "--factory", "tunewise.gate.loopback:create_echo_app",
                  "--host", "127.0.0.1", "--port", str(echo_port), "--log-level", "warning", "--no-access-log",
                  "--timeout-keep-alive", "30"],  # as the gateway: above httpx's 5 s, so no keep-alive race
                 f"http://127.0.0.1:{echo_port}/docs")
    runs = {"previous: minilm, no cache": (gates["minilm"], ["--embedding-cache-size", "0"]),
            "new: onnx-int8, no cache": (gates["minilm-onnx-int8"], ["--embedding-cache-size", "0"]),
            "new: onnx-int8 + cache (default)": (gates["minilm-onnx-int8"], [])}
    if args.monitor_judge:
        runs["new + answer monitor (record)"] = (gates["minilm-onnx-int8"], [
            "--answer-monitor", "record", "--answer-monitor-judge", args.monitor_judge])
    results = {}
    try:
        direct = direct_load((echo_port, echo.pid), texts, args)
        for label, (gate_dir, flags) in runs.items():
            results[label] = through_gateway(label.split(":")[0].replace(" ", "-") + str(len(results)), gate_dir,
                                             (echo_port, echo.pid), work, args, texts, flags)
            print(f"  ran {label}: {results[label]['throughput']:.1f} req/s", flush=True)
        direct_after = direct_load((echo_port, echo.pid), texts, args)
    finally:
        stop_process(echo)
    split = {name: gate_compute_split(folder, texts) for name, folder in gates.items()}

    print(f"\nload: {args.requests} requests, {args.concurrency} concurrent, {len(texts)} distinct texts "
          f"(1 in 5 off-domain), 127.0.0.1; {machine()}; load average before {load_before[0]:.2f} "
          f"(other work on the machine slows every figure); servers: {server_stack()}")
    print(f"direct to echo: {direct['throughput']:.1f} req/s before, {direct_after['throughput']:.1f} after the gateway "
          f"runs (ratios use their mean); latency {percentiles(direct['latencies'])}; CPU ms per request: load "
          f"generator {direct['client_cpu_ms']:.2f} / {direct_after['client_cpu_ms']:.2f}, echo "
          f"{direct['echo_cpu_ms']:.2f} / {direct_after['echo_cpu_ms']:.2f}")
    floor = (direct["throughput"] + direct_after["throughput"]) / 2
    print(f"{'gateway':34} {'req/s':>7} {'ratio':>6} {'request p50/p99 ms':>19} {'gate p50/p99 ms':>16} "
          f"{'gate alone p50/p99':>19} {'CPU ms/req':>10} {'client/echo':>11} {'failed':>6}  load")
    failures = direct["failures"] + direct_after["failures"]
    for label, r in results.items():
        lat, gate_ms, single = (np.percentile(r["latencies"], [50, 99]), np.percentile(r["gate_ms"], [50, 99]),
                                np.percentile(r["single"]["gate_ms"], [50, 99]))
        # each request is either answered (any status; not 200/403 is a failure) or a transport
        # failure, so this counts every failed request once
        failed = len(r["failures"]) + len(r["single"]["failures"])
        print(f"{label:34} {r['throughput']:7.1f} {r['throughput'] / floor:6.3f} {lat[0]:8.1f} /{lat[1]:8.1f} "
              f"{gate_ms[0]:7.2f} /{gate_ms[1]:7.2f} {single[0]:8.2f} /{single[1]:8.2f} {r['cpu_ms']:10.2f} "
              f"{r['client_cpu_ms']:5.2f}/{r['echo_cpu_ms']:5.2f} {failed:6d}  {r['load'][0]:.2f}")
        if r["judge_ms"]:
            print(f"  {'':32} answer monitor: {len(r['judge_ms'])} answers judged under load, judge time per request "
                  f"{percentiles(r['judge_ms'])} (batched, queueing included)")
            if r["judge_ms_single"]:
                print(f"  {'':32} answer monitor, one answer at a time: {percentiles(r['judge_ms_single'])} per answer")
        failures += [f"{label}: {failure}" for failure in r["failures"] + r["single"]["failures"]]
        if r["logged"] != args.requests + args.sequential:
            failures.append(f"{label}: {r['logged']} decisions logged, expected {args.requests + args.sequential}")
    print("(gate = X-Tunewise-Gate-Ms under load, micro-batch queueing included; gate alone = the same, "
          f"{args.sequential} requests one at a time; CPU ms/req = the gateway process's, client/echo = the load "
          "generator's and the echo server's in the same run)")
    for name, (embed_ms, detect_ms) in split.items():
        print(f"  {name:18} in process, one text: embedding {percentiles(embed_ms)}; detectors {percentiles(detect_ms)}")
    print(f"failed or dropped requests: {len(failures)}")
    for failure in failures[:5]:
        print("  ", failure)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
