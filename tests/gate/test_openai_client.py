"""The gateway driven by the official ``openai`` package, as production clients drive it: chat
completions, ``n``, streaming, and every error surfacing as the package's own exception type."""

from __future__ import annotations

import pytest

from tunewise.gate.decision_log import read_decisions
from tunewise.gate.loopback import ServerThread, create_echo_app, free_port
from tunewise.gate.upstream import BackendModel

from .conftest import IN_DOMAIN

openai = pytest.importorskip("openai")

OFF = "Write a haiku about autumn leaves falling on a quiet pond."
TOKEN_ENV = "TUNEWISE_TEST_OPENAI_CLIENT_TOKEN"


def client_for(url: str, key: str = "unused") -> "openai.OpenAI":
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_chat_completions_with_n(open_gateway, echo):
    with open_gateway(echo.url, served_model_name="coder") as (_, _app, url):
        completion = client_for(url).chat.completions.create(model="coder", messages=ask(IN_DOMAIN), n=3,
                                                             temperature=0.7)
    assert completion.model == "coder"
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert all(c.message.content == f"echo: {IN_DOMAIN}" for c in completion.choices)


def test_streaming_relays_the_upstream_events(open_gateway, echo):
    with open_gateway(echo.url, served_model_name="coder") as (_, app, url):
        stream = client_for(url).chat.completions.create(model="coder", messages=ask(IN_DOMAIN), stream=True, n=2)
        chunks = list(stream)
    text = {0: "", 1: ""}
    for chunk in chunks:
        assert chunk.model == "coder"
        for choice in chunk.choices:
            text[choice.index] += choice.delta.content or ""
    assert text == {0: f"echo: {IN_DOMAIN}", 1: f"echo: {IN_DOMAIN}"}
    assert len(chunks) > 4  # word by word, not one blob
    assert [r["status"] for r in read_decisions(app.state.decisions_path)] == [200]


def test_refusals_raise_the_packages_errors_or_read_as_answers(open_gateway, echo):
    with open_gateway(echo.url) as (_, _app, url):
        client = client_for(url)
        for stream in (False, True):  # refused before the first byte, so a stream gets the plain 403
            with pytest.raises(openai.PermissionDeniedError) as refused:
                client.chat.completions.create(model="m", messages=ask(OFF), stream=stream)
            assert refused.value.status_code == 403 and refused.value.code == "out_of_domain"
            assert refused.value.param == "messages.0.content"
    with open_gateway(echo.url, refusal="message", refusal_message="Only code, sorry.") as (_, _app, url):
        client = client_for(url)
        answer = client.chat.completions.create(model="m", messages=ask(OFF), n=2)
        assert [c.message.content for c in answer.choices] == ["Only code, sorry."] * 2
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in
                           client.chat.completions.create(model="m", messages=ask(OFF), stream=True)
                           if chunk.choices)
        assert streamed == "Only code, sorry."


def test_client_errors_are_the_packages_exception_types(open_gateway, echo, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "gateway-token")
    with open_gateway(echo.url, auth_token_env=TOKEN_ENV) as (_, _app, url):
        with pytest.raises(openai.AuthenticationError):
            client_for(url, "wrong").chat.completions.create(model="m", messages=ask(IN_DOMAIN))
        client = client_for(url, "gateway-token")
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="m", messages=ask(IN_DOMAIN), extra_body={"documents": ["x"]})
        assert bad.value.param == "documents" and bad.value.code == "unknown_field"
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="m", messages=ask(IN_DOMAIN), stop=5)  # type: ignore[arg-type]
        assert bad.value.param == "stop"
        assert client.models.list().data[0].id == "echo-model"


def test_upstream_failures_are_server_errors(open_gateway):
    with ServerThread(create_echo_app(fail_status=500)) as failing, open_gateway(failing.url) as (_, _app, url):
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError) as failed:
                client_for(url).chat.completions.create(model="m", messages=ask(IN_DOMAIN), stream=stream)
            assert failed.value.status_code == 502 and failing.url not in str(failed.value)
    with open_gateway(f"http://127.0.0.1:{free_port()}") as (_, _app, url):
        with pytest.raises(openai.InternalServerError):
            client_for(url).chat.completions.create(model="m", messages=ask(IN_DOMAIN), stream=True)


def test_streaming_from_an_in_process_model(code_gate, code_gate_dir):
    """A tiny random transformers model in process: generated in full, then streamed as chunks."""
    from tunewise.gate.server import create_app
    from tunewise.gate.serving import ServeConfig
    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    backend = BackendModel("hf:tiny", backend=HFBackend.from_model(model, tokenizer, "hf:tiny"))
    config = ServeConfig(model="hf:tiny", gate=str(code_gate_dir), torch_threads=0,
                         decisions_db=str(code_gate_dir / "openai-backend-decisions.sqlite"))
    with ServerThread(create_app(config, gate=code_gate, model=backend)) as server:
        client = client_for(server.url)
        chunks = list(client.chat.completions.create(model="hf:tiny", messages=ask(IN_DOMAIN), max_tokens=4,
                                                     temperature=None, stream=True))
        plain = client.chat.completions.create(model="hf:tiny", messages=ask(IN_DOMAIN), max_tokens=4, top_p=None)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason is not None
    assert isinstance(plain.choices[0].message.content, str)
