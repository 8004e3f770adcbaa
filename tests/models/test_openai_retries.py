"""Retry, backoff and API-key handling of the openai backend against a small real HTTP server
on 127.0.0.1 that fails on purpose (429, 500, a stall) before answering. Real sockets, real
httpx client; nothing is mocked. Runs in milliseconds, without vLLM."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tunewise.errors import BackendError, ModelRefError
from tunewise.models import SamplingParams, load_backend
from tunewise.models.openai_backend import OpenAIBackend, RetryPolicy

SECRET = "sk-test-not-a-real-key-123"


class ScriptedServer:
    """Answers POST /v1/chat/completions with a scripted sequence of failures, then success.

    ``script`` items: an int status (429 gets ``Retry-After: 0``), ``"stall"`` (sleep past the
    client's timeout, then answer 200) or ``"ok"``; after the script every request gets ``ok``.
    """

    def __init__(self, script: list):
        self.script = list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"body": body, "authorization": self.headers.get("Authorization"),
                                            "time": time.monotonic()})
                    step = server.script.pop(0) if server.script else "ok"
                if step == "stall":
                    time.sleep(1.0)
                    step = "ok"
                if step == "ok":
                    payload = {"choices": [{"index": i, "message": {"role": "assistant", "content": f"answer {i}"},
                                            "finish_reason": "stop",
                                            "logprobs": {"content": [{"token": "a", "logprob": -0.1}]}}
                                           for i in range(body.get("n", 1))],
                               "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
                    self._send(200, payload)
                else:
                    headers = {"Retry-After": "0"} if step == 429 else {}
                    self._send(step, {"error": {"message": f"scripted failure {step}"}}, headers)

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


CHAT = [{"role": "user", "content": "hi"}]


def backend(url: str, **options) -> OpenAIBackend:
    options = {"backoff_base": 0.01, "backoff_max": 0.05, "show_progress": False, **options}
    return load_backend(f"openai:test-model@{url}", api_key_env="TUNEWISE_TEST_KEY", **options)


def test_retries_429_and_500_then_succeeds_and_sends_key(monkeypatch):
    monkeypatch.setenv("TUNEWISE_TEST_KEY", SECRET)
    with ScriptedServer([429, 500, 503]) as server:
        completions = backend(server.url).generate([CHAT], SamplingParams(n=1, max_tokens=4))
    assert [c.text for c in completions] == ["answer 0"]
    assert completions[0].prompt_tokens == 7 and completions[0].completion_tokens == 2
    assert len(server.requests) == 4
    assert all(r["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    assert server.requests[0]["body"]["model"] == "test-model"


def test_timeout_is_retried(monkeypatch):
    monkeypatch.delenv("TUNEWISE_TEST_KEY", raising=False)
    with ScriptedServer(["stall"]) as server:
        completions = backend(server.url, timeout=0.3).generate([CHAT], SamplingParams(max_tokens=4))
    assert completions[0].text == "answer 0"
    assert len(server.requests) == 2
    assert server.requests[0]["authorization"] is None  # no key in the environment: none sent


def test_gives_up_after_max_retries_without_leaking_the_key(monkeypatch):
    monkeypatch.setenv("TUNEWISE_TEST_KEY", SECRET)
    with ScriptedServer([500] * 10) as server:
        client = backend(server.url, max_retries=2)
        with pytest.raises(BackendError) as error:
            client.generate([CHAT], SamplingParams(max_tokens=4))
    assert len(server.requests) == 3
    assert "3 attempts" in str(error.value) and "scripted failure 500" in str(error.value)
    assert SECRET not in str(error.value) and SECRET not in repr(client) and SECRET not in str(vars(client))


def test_local_model_options_are_ignored_for_http_models():
    with ScriptedServer([]) as server:
        client = load_backend(f"openai:test-model@{server.url}", trust_pickle=False, device="cpu", show_progress=False)
        assert client.generate([CHAT], SamplingParams(max_tokens=4))[0].text == "answer 0"


def test_client_error_is_not_retried():
    with ScriptedServer([400]) as server:
        with pytest.raises(BackendError, match="HTTP 400: scripted failure 400"):
            backend(server.url).generate([CHAT], SamplingParams(max_tokens=4))
    assert len(server.requests) == 1


def test_concurrency_limit_and_order_of_many_samples():
    with ScriptedServer([]) as server:
        chats = [[{"role": "user", "content": f"question {i}"}] for i in range(5)]
        completions = backend(server.url, concurrency=2).generate(chats, SamplingParams(n=3, max_tokens=4))
    assert [(c.chat_index, c.sample_index) for c in completions] == [(i, s) for i in range(5) for s in range(3)]
    seeds = [r["body"]["seed"] for r in server.requests]
    assert len(server.requests) == 15 and len(set(seeds)) == 15  # one seeded request per sample
    assert all(r["body"]["n"] == 1 for r in server.requests)


def test_n_mode_sends_one_request_per_chat():
    with ScriptedServer([]) as server:
        completions = backend(server.url, sample_requests="n").generate([CHAT], SamplingParams(n=3, max_tokens=4))
    assert len(server.requests) == 1 and server.requests[0]["body"]["n"] == 3
    assert "seed" not in server.requests[0]["body"]
    assert [c.text for c in completions] == ["answer 0", "answer 1", "answer 2"]
    assert all(c.completion_tokens == 1 for c in completions)  # counted from each choice's logprobs


def test_backoff_grows_and_honours_retry_after():
    policy = RetryPolicy(max_retries=5, base=1.0, max_wait=8.0)
    assert policy.wait(0, retry_after="2") == 2.0
    assert 0.5 <= policy.wait(0) <= 1.0 and 2.0 <= policy.wait(2) <= 4.0 and 4.0 <= policy.wait(6) <= 8.0


def test_bad_references_are_refused():
    with pytest.raises(ModelRefError, match="lora-modules"):
        OpenAIBackend("openai:m@http://127.0.0.1:1/v1+lora:/tmp/adapter")
    with pytest.raises(ModelRefError, match="openai:<model>@<base_url>"):
        OpenAIBackend("hf:/tmp/model")
