"""An API model next to a local one: run_assess through the openai backend against a real
OpenAI-compatible HTTP server on 127.0.0.1 (FastAPI + uvicorn) that answers with the tiny model."""

import socket
import threading
import time

import httpx
import pytest

from tunewise.assess import AssessConfig, run_assess
from tunewise.models import SamplingParams


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api_url(sharp_model_ref):
    import uvicorn
    from fastapi import FastAPI

    from tunewise.models.hf import HFBackend

    backend = HFBackend(sharp_model_ref, show_progress=False)
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def chat(body: dict) -> dict:
        params = SamplingParams(temperature=body.get("temperature", 1.0), max_tokens=body.get("max_tokens", 16),
                                stop=body.get("stop") or [])
        completion = backend.generate([body["messages"]], params)[0]
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                             "finish_reason": completion.finish_reason}],
                "usage": {"prompt_tokens": completion.prompt_tokens,
                          "completion_tokens": completion.completion_tokens}}

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=5,
                       json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 1})
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_prompting_an_api_model_beside_a_local_one(sharp_model_ref, api_url, tmp_path):
    api_model = f"openai:tiny@{api_url}"
    config = AssessConfig(task="intents", models=[sharp_model_ref, api_model], strategies=["few-shot-4"],
                          n_examples=40, test_size=4, max_tokens=5, finetune=False)
    result = run_assess(config, tmp_path / "run")
    local, api = result.strategies
    assert api["model"] == api_model and api["n"] == 4
    # Same weights behind HTTP: same prompts and answers, so the same token counts and accuracy.
    assert api["prompt_tokens"] == local["prompt_tokens"] and api["accuracy"] == local["accuracy"]
    # The API's cacheable share is estimated from the shared leading messages: most of a 4-shot prompt.
    assert 0.5 * api["prompt_tokens"] < api["cached_prompt_tokens"] < api["prompt_tokens"]
    assert api["cost_per_1k_cached"] < api["cost_per_1k"]
    assert "API-only" in result.upgrade[1]["finetune_port"]
