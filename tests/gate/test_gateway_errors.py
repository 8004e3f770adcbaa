"""Isolation, client errors, credentials and limits, against the real gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest

from tunewise.gate.batcher import GateBatcher
from tunewise.gate.decision_log import read_decisions
from tunewise.gate.loopback import ServerThread, create_echo_app, free_port

from .conftest import IN_DOMAIN

KEY_ENV = "TUNEWISE_TEST_UPSTREAM_KEY"


def raw_chat(**fields) -> bytes:
    """A JSON body as bytes, with ``\\ud800``-style escapes kept (json.dumps escapes surrogates)."""
    return json.dumps({"messages": [{"role": "user", "content": IN_DOMAIN}], **fields}).encode()


def post_raw(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})


def test_a_lone_surrogate_fails_alone_among_concurrent_requests(open_gateway, echo):
    bad = json.dumps({"messages": [{"role": "user", "content": "Write a function \ud800 for uploads"}]}).encode()

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bodies = [raw_chat(), raw_chat(), bad, raw_chat(), raw_chat()]
            return await asyncio.gather(*[client.post("/v1/chat/completions", content=b,
                                                      headers={"content-type": "application/json"}) for b in bodies])

    with open_gateway(echo.url) as (_, app, url):
        responses = asyncio.run(burst(url))
    assert [r.status_code for r in responses] == [200, 200, 400, 200, 200]
    error = responses[2].json()["error"]
    assert error["param"] == "messages.0.content" and "surrogate" in error["message"]
    assert len(read_decisions(app.state.decisions_path)) == 4


def test_the_batcher_fails_only_the_request_that_broke_the_batch(code_gate):
    """Defence in depth: were a bad text to reach the gate, only its own request fails."""
    async def run():
        batcher = GateBatcher(code_gate)
        batcher.start()
        try:
            return await asyncio.gather(batcher.decide([IN_DOMAIN]), batcher.decide(["bad \ud800 text"]),
                                        batcher.decide([IN_DOMAIN, "How many moons does Jupiter have?"]),
                                        return_exceptions=True)
        finally:
            await batcher.close()

    first, broken, third = asyncio.run(run())
    assert isinstance(broken, Exception)
    assert first[0].allowed and len(third) == 2 and not third[1].allowed


CLIENT_ERRORS = {
    "5000-digit integer": (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}",
                           None, "digits"),
    "deep nesting": (b'{"messages": [{"role": "user", "content": "hi"}], "metadata": ' + b"[" * 5000 + b"]" * 5000
                     + b"}", None, "nested"),
    "Infinity": (raw_chat().replace(b"}]", b'}], "temperature": Infinity', 1), None, "Infinity"),
    "overflowing float": (raw_chat().replace(b"}]", b'}], "temperature": 1e999', 1), "temperature", "finite"),
    "surrogate in a system message": (json.dumps({"messages": [{"role": "system", "content": "a\udfffb"},
                                                               {"role": "user", "content": IN_DOMAIN}]}).encode(),
                                      "messages.0.content", "surrogate"),
    "surrogate in a key": (json.dumps({"messages": [{"role": "user", "content": IN_DOMAIN}],
                                       "metadata": {"\ud800": "x"}}).encode(), "metadata", "surrogate"),
    "stop: 5": (raw_chat(stop=5), "stop", "stop"),
    "top_p: 1e-300": (raw_chat(top_p=1e-300), "top_p", "top_p"),
    "temperature as text": (raw_chat(temperature="0.5"), "temperature", "temperature"),
    "n as a float": (raw_chat(n=1.5), "n", "n"),
    "not an object": (b"[1, 2, 3]", "body", "JSON object"),
    "not UTF-8": (b'{"messages": "\xff\xfe"}', None, "UTF-8"),
    "image part": (json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}).encode(), "messages.0.content", "type"),
    "name with spaces": (json.dumps({"messages": [{"role": "user", "name": "a b", "content": IN_DOMAIN}]}).encode(),
                         "messages.0.name", "pattern"),
    "unknown message field": (json.dumps({"messages": [{"role": "user", "content": IN_DOMAIN,
                                                        "documents": ["x"]}]}).encode(), "messages.0.documents", "Extra"),
}


@pytest.mark.parametrize("case", list(CLIENT_ERRORS))
def test_client_errors_are_4xx_json_naming_the_field(case, open_gateway, echo, caplog):
    body, param, words = CLIENT_ERRORS[case]
    with open_gateway(echo.url) as (client, app, _):
        response = post_raw(client, body)
    assert response.status_code == 400, (case, response.text)
    error = response.json()["error"]
    assert words in error["message"], error
    if param is not None:
        assert error["param"] == param, error
    assert "Traceback" not in caplog.text
    assert read_decisions(app.state.decisions_path) == []  # refused before the gate


def test_unknown_paths_and_methods_answer_in_the_openai_error_shape(open_gateway, echo):
    with open_gateway(echo.url) as (client, _, _url):
        missing = client.post("/v1/completions", json={"prompt": "hi"})
        wrong_method = client.get("/v1/chat/completions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and "GET /v1/chat/completions" in wrong_method.json()["error"]["message"]


def test_null_sampling_fields_mean_the_default(open_gateway, echo):
    with open_gateway(echo.url) as (client, _, _url):
        response = post_raw(client, raw_chat(temperature=None, top_p=None, stop=None))
        assert response.status_code == 200, response.text
        forwarded = echo.app.state.requests[-1]["body"]
        assert "temperature" not in forwarded and "top_p" not in forwarded and "stop" not in forwarded


def test_upstream_answering_a_json_list_is_a_502(open_gateway):
    with ServerThread(create_echo_app(answer=[1, 2, 3])) as odd, open_gateway(odd.url) as (client, _, _url):
        response = post_raw(client, raw_chat())
    assert response.status_code == 502 and "JSON list" in response.json()["error"]["message"]


def test_upstream_400_is_the_clients_error_without_the_url(open_gateway):
    with ServerThread(create_echo_app(fail_status=400)) as picky, open_gateway(picky.url) as (client, _, _url):
        response = post_raw(client, raw_chat())
    assert response.status_code == 400 and "rejected the request" in response.json()["error"]["message"]
    assert "127.0.0.1" not in response.text


def test_the_upstream_key_is_forwarded_and_never_shown(open_gateway, monkeypatch):
    key = "sk-upstream-secret-123"
    monkeypatch.setenv(KEY_ENV, key)
    app_echo = create_echo_app()
    with ServerThread(app_echo) as upstream:
        # a URL with credentials in it, as users wrote before keys could be forwarded
        url_with_secret = upstream.url.replace("http://", "http://user:url-secret@")
        with open_gateway(upstream.url, model=f"openai:echo-model@{url_with_secret}/v1",
                          upstream_api_key_env=KEY_ENV, log_texts=True) as (client, app, _):
            seen = [post_raw(client, raw_chat()), client.get("/healthz"), client.get("/v1/models"),
                    client.get("/metrics")]
            assert seen[0].status_code == 200 and seen[0].json()["model"] == "echo-model"
    with open_gateway(f"http://127.0.0.1:{free_port()}",
                      model=f"openai:echo-model@http://user:url-secret@127.0.0.1:{free_port()}/v1",
                      upstream_api_key_env=KEY_ENV) as (client, app2, _):
        unreachable = post_raw(client, raw_chat())
        assert unreachable.status_code == 502
    for response in [*seen, unreachable]:
        for secret in (key, "url-secret", "127.0.0.1"):
            assert secret not in response.text, (secret, response.request.url)
    log_bytes = app.state.decisions_path.read_bytes() + app2.state.decisions_path.read_bytes()
    assert b"url-secret" not in log_bytes and key.encode() not in log_bytes


def test_the_upstream_key_header(open_gateway, echo, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-upstream-secret-123")
    with open_gateway(echo.url, upstream_api_key_env=KEY_ENV) as (client, _, _url):
        assert post_raw(client, raw_chat()).status_code == 200
    assert echo.app.state.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-secret-123"


def test_message_count_and_gated_text_caps(open_gateway, echo):
    many = {"messages": [{"role": "user", "content": IN_DOMAIN}] * 1700}
    with open_gateway(echo.url, max_messages=64, max_body_bytes=1_000_000, max_input_chars=1_000_000,
                      max_gated_texts=40) as (client, app, _):
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", json=many)
        elapsed = time.perf_counter() - started
        assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
        assert "1700 messages" in response.json()["error"]["message"]
        fifty = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": IN_DOMAIN}] * 50})
        assert fifty.status_code == 400 and "texts to gate" in fifty.json()["error"]["message"]
    assert read_decisions(app.state.decisions_path) == []  # neither reached the gate
    assert elapsed < 10  # refused before any embedding (was 3 s of gate time for 1,700 messages)


def test_a_trickled_body_times_out_with_408(open_gateway, echo):
    with open_gateway(echo.url, body_timeout_s=0.5) as (_, _app, url):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 200\r\n\r\n{\"messages\": ")
            started = time.perf_counter()
            reply = sock.recv(4096).decode()
            waited = time.perf_counter() - started
            while "request_timeout" not in reply and time.perf_counter() - started < 10:
                more = sock.recv(4096).decode()
                if not more:
                    break
                reply += more
    assert reply.startswith("HTTP/1.1 408") and "request_timeout" in reply
    assert waited < 5
