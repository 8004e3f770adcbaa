"""`tunewise serve` as a real process: SIGTERM lets the in-flight request finish, then it exits;
an idle keep-alive connection outlives httpx's 5 s idle expiry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tunewise.gate.decision_log import read_decisions
from tunewise.gate.loopback import ServerThread, create_echo_app, free_port, stop_process

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


def _serve(upstream_url: str, gate_dir, port: int, decisions) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "tunewise.cli", "serve", "--model", f"openai:echo@{upstream_url}/v1",
         "--gate", str(gate_dir), "--port", str(port), "--decisions-db", str(decisions),
         "--graceful-shutdown-s", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        _wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200, 120,
                    "/healthz", process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@pytest.mark.slow
def test_sigterm_finishes_in_flight_request(code_gate_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    decisions = tmp_path / "decisions.sqlite"
    with ServerThread(create_echo_app(delay_s=2.0)) as upstream:
        process = _serve(upstream.url, code_gate_dir, port, decisions)
        try:
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


def _read_response(connection: socket.socket) -> bytes:
    """One whole response (head, then a Content-Length body); b"" if the server closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


@pytest.mark.slow
def test_an_idle_connection_outlives_the_clients_keep_alive(code_gate_dir, tmp_path, echo):
    """httpx (and so the openai package) drops an idle connection after 5 s; uvicorn's default
    keep-alive is also 5 s, so a client could send on a connection the gateway was closing. The
    gateway keeps it longer: the same connection still answers after 6 s idle."""
    port = free_port()
    process = _serve(echo.url, code_gate_dir, port, tmp_path / "decisions.sqlite")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            for pause in (6.0, 0.0):
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
                assert _read_response(connection).startswith(b"HTTP/1.1 200")
                time.sleep(pause)
    finally:
        stop_process(process, timeout_s=30)
