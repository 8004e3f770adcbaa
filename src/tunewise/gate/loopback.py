"""Loopback helpers for tests and benchmarks: an OpenAI-compatible echo server and a way to run
any ASGI app on 127.0.0.1 in a background thread.

The echo server stands in for the model when what is measured is the gateway itself: it
answers instantly (or after ``delay_s``), so every millisecond left is the gate's and the
server's. ``fail_status`` makes it fail on purpose, to test upstream-failure handling.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tunewise.errors import TunewiseError


def create_echo_app(delay_s: float = 0.0, fail_status: int | None = None, answer: object | None = None,
                    reply: str | None = None):
    """An OpenAI-compatible echo server: each choice is ``echo: <last user message>`` (or ``reply``,
    a fixed answer text, e.g. one the answer monitor must flag); ``n`` and
    ``stream`` are honoured (a stream sends the answer word by word). ``answer`` replaces the
    whole JSON answer (e.g. a list, to test a misbehaving upstream). ``app.state.requests``
    keeps each request's headers and body, so tests can check what the gateway forwarded."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.requests = []

    @app.post("/v1/chat/completions")
    async def echo(request: Request):
        body = await request.json()
        app.state.requests.append({"headers": dict(request.headers), "body": body})
        if delay_s:
            await asyncio.sleep(delay_s)
        if fail_status:
            return JSONResponse({"error": {"message": "echo server failing on purpose"}}, status_code=fail_status)
        if answer is not None:
            return JSONResponse(answer)
        last_user = next((m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        if isinstance(last_user, list):
            last_user = " ".join(part.get("text", "") for part in last_user)
        text, n = reply if reply is not None else f"echo: {last_user}", int(body.get("n") or 1)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.get("model", "echo")}
        if body.get("stream"):
            def events():
                for index in range(n):
                    words = text.split(" ")
                    for i, word in enumerate(words):
                        delta = {"content": word if i == 0 else " " + word, **({"role": "assistant"} if i == 0 else {})}
                        chunk = {**base, "object": "chat.completion.chunk",
                                 "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
                        yield f"data: {json.dumps(chunk)}\n\n"
                    done = {**base, "object": "chat.completion.chunk",
                            "choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]}
                    yield f"data: {json.dumps(done)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        return {**base, "object": "chat.completion",
                "choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                            for i in range(n)],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    return app


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; the socket is bound before
    the thread starts, so ``port`` is known and free (no pick-then-bind race).

    ``with ServerThread(app) as server: httpx.get(server.url + "/healthz")``.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, graceful_shutdown_s: float = 10.0):
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                                    timeout_graceful_shutdown=graceful_shutdown_s))
        self.server.install_signal_handlers = lambda: None  # signals belong to the main thread
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout_s: float = 60.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise TunewiseError(f"server on {self.url} did not start within {timeout_s}s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A port free right now (for a server started in another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """SIGTERM a server started in another process (so it shuts down gracefully), and kill it if
    it has not exited within ``timeout_s``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
