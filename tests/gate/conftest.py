"""Shared fixtures: one gate fitted on the built-in insecure-code requests (real MiniLM
embeddings), and its in-domain inputs split into fit and held-out evaluation texts."""

from __future__ import annotations

import pytest

from tunewise.gate import fit_gate
from tunewise.gate.sources import narrow_task_inputs
from tunewise.gate.runner import split_inputs


@pytest.fixture(scope="session")
def code_inputs() -> tuple[list[str], list[str]]:
    """(fit texts, held-out texts) from the insecure-code task's user requests."""
    fit_texts, eval_texts = split_inputs(narrow_task_inputs("insecure-code", n=160), eval_fraction=0.25, seed=0)
    return fit_texts, eval_texts


@pytest.fixture(scope="session")
def code_gate(code_inputs):
    return fit_gate(code_inputs[0], target_false_reject_rate=0.01)


@pytest.fixture(scope="session")
def code_gate_dir(code_gate, tmp_path_factory):
    return code_gate.save(tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="session")
def off_domain() -> list[str]:
    """Off-domain requests written for these tests (not from the gate's own hard-case bank)."""
    return [
        "What's a good name for a golden retriever puppy?",
        "Can you suggest a menu for a birthday picnic in the park?",
        "How many moons does Jupiter have?",
        "Write a haiku about autumn leaves.",
        "What should I pack for a week of hiking in Scotland?",
        "Who painted the ceiling of the Sistine Chapel?",
    ]


IN_DOMAIN = "Write a Python function `save_upload` that stores an uploaded file under the uploads folder."


@pytest.fixture(scope="module")
def echo():
    """A real OpenAI-compatible echo server on 127.0.0.1 (stands in for the model)."""
    from tunewise.gate.loopback import ServerThread, create_echo_app

    app = create_echo_app()
    with ServerThread(app) as server:
        server.app = app
        yield server


@pytest.fixture
def open_gateway(code_gate, code_gate_dir):
    """``with open_gateway(upstream_url, **ServeConfig fields) as (client, app, url):`` the real
    gateway on 127.0.0.1 in front of ``upstream_url`` (an ``openai:`` reference to it)."""
    from contextlib import contextmanager

    import httpx

    from tunewise.gate.loopback import ServerThread, free_port
    from tunewise.gate.server import create_app
    from tunewise.gate.serving import ServeConfig

    @contextmanager
    def open_it(upstream_url: str, model: str | None = None, **settings):
        # torch_threads=0: leave torch's process-wide thread count alone for the other tests
        config = ServeConfig(model=model or f"openai:echo-model@{upstream_url}/v1", gate=str(code_gate_dir),
                             torch_threads=0, decisions_db=str(code_gate_dir / f"decisions-{free_port()}.sqlite"),
                             **settings)
        app = create_app(config, gate=code_gate)
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, app, server.url

    return open_it
