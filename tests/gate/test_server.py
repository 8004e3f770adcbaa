"""The gateway on 127.0.0.1 (uvicorn in a thread) in front of a real echo server, exercised with httpx."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import httpx
import pytest

from tunewise.gate.decision_log import read_decisions
from tunewise.gate.loopback import ServerThread, create_echo_app, free_port
from tunewise.gate.server import create_app
from tunewise.gate.serving import ServeConfig

IN_DOMAIN = "Write a Python function `save_upload` that stores an uploaded file under the uploads folder."
TOKEN_ENV = "TUNEWISE_TEST_GATEWAY_TOKEN"


def chat(text: str, **extra) -> dict:
    return {"model": "any", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture(scope="module")
def echo():
    with ServerThread(create_echo_app()) as server:
        yield server


@contextmanager
def gateway(gate, gate_dir, upstream_url: str, **settings):
    # torch_threads=0: leave torch's process-wide thread count alone for the other tests in this process
    config = ServeConfig(model=f"openai:echo-model@{upstream_url}/v1", gate=str(gate_dir), torch_threads=0,
                         decisions_db=str(gate_dir / f"decisions-{free_port()}.sqlite"), **settings)
    app = create_app(config, gate=gate)
    with ServerThread(app) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, app
    # leaving the ServerThread ran the lifespan shutdown: the decision log is drained


def test_allowed_request_reaches_the_model(code_gate, code_gate_dir, echo):
    assert code_gate.allows(IN_DOMAIN)
    with gateway(code_gate, code_gate_dir, echo.url, served_model_name="coder") as (client, app):
        response = client.post("/v1/chat/completions", json=chat(IN_DOMAIN))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["choices"][0]["message"]["content"] == f"echo: {IN_DOMAIN}"
        assert body["model"] == "coder"
        assert response.headers["x-tunewise-gate"] == "allowed"
        assert float(response.headers["x-tunewise-gate-ms"]) > 0
        assert client.get("/v1/models").json()["data"][0]["id"] == "coder"
        assert client.get("/healthz").json()["status"] == "ok"
    rows = read_decisions(app.state.decisions_path)
    assert len(rows) == 1 and rows[0]["allowed"] and rows[0]["status"] == 200
    assert set(rows[0]["detectors"]) == {"mahalanobis", "knn"}
    assert rows[0]["text"] is None  # texts are not stored unless asked


def test_refused_as_error_status_and_logged_with_scores(code_gate, code_gate_dir, echo, off_domain):
    with gateway(code_gate, code_gate_dir, echo.url, log_texts=True) as (client, app):
        response = client.post("/v1/chat/completions", json=chat(off_domain[0]))
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "out_of_domain" and error["gate"]["score"] > error["gate"]["threshold"]
        # an in-domain first turn does not launder an off-domain follow-up
        mixed = {"messages": [{"role": "user", "content": IN_DOMAIN}, {"role": "assistant", "content": "ok"},
                              {"role": "user", "content": off_domain[2]}]}
        assert client.post("/v1/chat/completions", json=mixed).status_code == 403
    rows = read_decisions(app.state.decisions_path)
    assert [r["allowed"] for r in rows] == [False, False]
    assert rows[0]["text"] == off_domain[0] and rows[0]["score"] > rows[0]["threshold"]
    assert rows[0]["status"] == 403


def test_refused_as_fixed_assistant_message(code_gate, code_gate_dir, echo, off_domain):
    with gateway(code_gate, code_gate_dir, echo.url, refusal="message", refusal_message="Only code, sorry.") as (client, _):
        response = client.post("/v1/chat/completions", json=chat(off_domain[3]))
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Only code, sorry."
        assert response.json()["tunewise_gate"]["refused"] is True
        assert response.headers["x-tunewise-gate"] == "refused"


def test_bearer_auth(code_gate, code_gate_dir, echo, monkeypatch):
    secret = "s3cret-token-value"
    monkeypatch.setenv(TOKEN_ENV, secret)
    with gateway(code_gate, code_gate_dir, echo.url, auth_token_env=TOKEN_ENV, log_texts=True) as (client, app):
        assert client.post("/v1/chat/completions", json=chat(IN_DOMAIN)).status_code == 401
        wrong = client.post("/v1/chat/completions", json=chat(IN_DOMAIN), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/models").status_code == 401
        assert client.get("/healthz").status_code == 200  # liveness stays open for orchestrators
        ok = client.post("/v1/chat/completions", json=chat(IN_DOMAIN), headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
    assert secret not in app.state.decisions_path.read_bytes().decode("latin-1")


def test_bad_input_gets_clear_errors(code_gate, code_gate_dir, echo):
    with gateway(code_gate, code_gate_dir, echo.url, max_body_bytes=2000, max_completion_tokens=64) as (client, app):
        oversize = client.post("/v1/chat/completions", json=chat("x" * 5000))
        assert oversize.status_code == 413 and oversize.json()["error"]["code"] == "request_too_large"
        malformed = client.post("/v1/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"})
        assert malformed.status_code == 400 and "column 15" in malformed.json()["error"]["message"]
        no_messages = client.post("/v1/chat/completions", json={"model": "x"})
        assert no_messages.status_code == 400 and "messages" in no_messages.json()["error"]["message"]
        bad_role = client.post("/v1/chat/completions", json={"messages": [{"role": "wizard", "content": "hi"}]})
        assert bad_role.status_code == 400 and "messages.0.role" in bad_role.json()["error"]["message"]
        assert bad_role.json()["error"]["param"] == "messages.0.role"
        too_many = client.post("/v1/chat/completions", json=chat(IN_DOMAIN, max_tokens=65))
        assert too_many.status_code == 400 and "max_tokens 65" in too_many.json()["error"]["message"]
    assert read_decisions(app.state.decisions_path) == []  # rejected before the gate


def test_upstream_failure_timeout_and_unreachable(code_gate, code_gate_dir):
    with ServerThread(create_echo_app(fail_status=500)) as failing:
        with gateway(code_gate, code_gate_dir, failing.url) as (client, _):
            response = client.post("/v1/chat/completions", json=chat(IN_DOMAIN))
            assert response.status_code == 502 and "HTTP 500" in response.json()["error"]["message"]
            assert failing.url not in response.text and "127.0.0.1" not in response.text
    with ServerThread(create_echo_app(delay_s=2.0)) as slow:
        with gateway(code_gate, code_gate_dir, slow.url, request_timeout_s=0.3) as (client, _):
            response = client.post("/v1/chat/completions", json=chat(IN_DOMAIN))
            assert response.status_code == 504 and "timed out" in response.json()["error"]["message"]
    with gateway(code_gate, code_gate_dir, f"http://127.0.0.1:{free_port()}") as (client, app):
        response = client.post("/v1/chat/completions", json=chat(IN_DOMAIN))
        assert response.status_code == 502 and "unreachable" in response.json()["error"]["message"]
        metrics = client.get("/metrics").text
    assert 'tunewise_gateway_requests_total{outcome="upstream_error",status="502"} 1' in metrics


def test_concurrency_limit_sheds_load_with_503(code_gate, code_gate_dir):
    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            responses = await asyncio.gather(*[client.post("/v1/chat/completions", json=chat(IN_DOMAIN))
                                               for _ in range(3)])
        return sorted(r.status_code for r in responses)

    with ServerThread(create_echo_app(delay_s=1.5)) as slow:
        with gateway(code_gate, code_gate_dir, slow.url, max_concurrency=1, queue_timeout_s=0.2) as (client, _):
            statuses = asyncio.run(burst(str(client.base_url)))
            metrics = client.get("/metrics").text
    assert statuses == [200, 503, 503]
    assert "tunewise_gate_decision_seconds_count 3" in metrics
    assert "tunewise_gateway_in_flight 0" in metrics


def test_in_process_backend_behind_the_gate(code_gate, code_gate_dir, off_domain):
    """A real (tiny, random) transformers model served in process: allowed requests are generated."""
    from tunewise.gate.upstream import BackendModel
    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    backend = BackendModel("hf:tiny", backend=HFBackend.from_model(model, tokenizer, "hf:tiny"))
    config = ServeConfig(model="hf:tiny", gate=str(code_gate_dir), max_prompt_tokens=400, torch_threads=0,
                         decisions_db=str(code_gate_dir / "backend-decisions.sqlite"))
    with ServerThread(create_app(config, gate=code_gate, model=backend)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/v1/chat/completions", json=chat(IN_DOMAIN, max_tokens=5, temperature=0, n=2))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["choices"]) == 2 and body["usage"]["completion_tokens"] <= 10
        assert all(isinstance(c["message"]["content"], str) for c in body["choices"])
        assert client.post("/v1/chat/completions", json=chat(off_domain[4])).status_code == 403
        long = client.post("/v1/chat/completions", json=chat(IN_DOMAIN * 20))
        assert long.status_code == 400 and "tokens" in long.json()["error"]["message"]


def test_serve_finds_the_gate_in_its_run_folder_and_names_bad_flags(tmp_path, code_gate_dir):
    import shutil

    from typer.testing import CliRunner

    from tunewise.cli import app
    from tunewise.gate.serving import resolve_gate

    run_dir = tmp_path / "run"
    shutil.copytree(code_gate_dir, run_dir / "gate")
    assert resolve_gate(ServeConfig(model="openai:m@http://127.0.0.1:1/v1"), run_dir).gate == str(run_dir / "gate")
    explicit = ServeConfig(model="openai:m@http://127.0.0.1:1/v1", gate=str(code_gate_dir))
    assert resolve_gate(explicit, run_dir).gate == str(code_gate_dir)  # --gate wins over --run-dir

    runner = CliRunner()
    missing = runner.invoke(app, ["serve", "--model", "openai:m@http://127.0.0.1:1/v1", "--run-dir", str(tmp_path / "no")])
    assert missing.exit_code != 0 and "gate.json: missing" in str(missing.exception)
    bad = runner.invoke(app, ["serve", "--model", "openai:m@http://127.0.0.1:1/v1", "--refusal", "maybe"])
    assert bad.exit_code != 0 and str(bad.exception).startswith("--refusal:")
    help_text = runner.invoke(app, ["serve", "--help"]).output
    for flag in ("--max-n", "--default-max-tokens", "--refusal-message", "--torch-threads", "--run-dir"):
        assert flag in help_text
