"""`tunewise serve` as a real process: SIGTERM lets the in-flight request finish, then it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tunewise.gate.decision_log import read_decisions
from tunewise.gate.loopback import ServerThread, create_echo_app, free_port

IN_DOMAIN = "Write a Python function `save_upload` that stores an uploaded file under the uploads folder."


def _wait_until(predicate, timeout_s: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early ({process.returncode}) while waiting for {what}:\n"
                                 + process.stdout.read())
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigterm_finishes_in_flight_request(code_gate_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    decisions = tmp_path / "decisions.sqlite"
    with ServerThread(create_echo_app(delay_s=2.0)) as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "tunewise.cli", "serve", "--model", f"openai:echo@{upstream.url}/v1",
             "--gate", str(code_gate_dir), "--port", str(port), "--decisions-db", str(decisions),
             "--graceful-shutdown-s", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            _wait_until(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, 120, "/healthz", process)
            result: dict = {}

            def send() -> None:
                result["response"] = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                                                json={"messages": [{"role": "user", "content": IN_DOMAIN}]})

            sender = threading.Thread(target=send)
            sender.start()
            _wait_until(lambda: "tunewise_gateway_in_flight 1" in httpx.get(f"{url}/metrics", timeout=2).text,
                        30, "the request to be in flight", process)
            process.send_signal(signal.SIGTERM)
            sender.join(timeout=30)
            # uvicorn re-raises the captured SIGTERM once shutdown completes (the conventional
            # "terminated by signal" exit a supervisor expects), hence -SIGTERM rather than 0
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    response = result["response"]
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"echo: {IN_DOMAIN}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
    rows = read_decisions(decisions)
    assert len(rows) == 1 and rows[0]["status"] == 200
