"""The ``openai`` backend: any OpenAI-compatible chat-completions server over HTTP.

``openai:<model>@<base_url>`` reaches ``vllm serve`` (one replica or many behind a load
balancer), llama.cpp's server, or OpenAI itself. Requests go out concurrently (asyncio +
httpx, at most ``concurrency`` in flight) because a sampling server only reaches its
throughput when it batches many requests at once; 429, 5xx, timeouts and dropped connections
are retried with exponential backoff and jitter (honouring ``Retry-After``), while other 4xx
answers (a bad model name, a bad parameter) fail at once with the server's own message.

Seeds: by default each sample is its own request with ``n=1`` and a seed derived from the run
seed, the sample index and the chat, because a fixed per-request seed with ``n>1`` makes every
sample of a prompt identical on vLLM. The prompt is then sent n times, which costs little on
vLLM (prefix caching) but is billed n times by OpenAI: ``sample_requests="n"`` sends one
request with ``n`` and no seed instead.

The API key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``) when the client is built; it lives only in the HTTP client's headers and is
never logged, printed, put in an error message or written to the run folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import threading
from dataclasses import dataclass

import httpx

from tunewise.errors import BackendError, ModelRefError
from tunewise.models.refs import ModelRef, parse_model_ref
from tunewise.models.registry import register_backend
from tunewise.models.types import Chat, Completion, SamplingParams
from tunewise.progress import progress_bar

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def chat_sample_seed(base_seed: int, sample_index: int, chat: Chat) -> int:
    """A sample's seed from the run seed, the sample index and the chat's text: distinct for
    every sample of every chat, reproducible on its own, and independent of request order.
    Kept below 2**53 so that it survives JSON in any client (JavaScript numbers included)."""
    digest = hashlib.sha256(f"{base_seed}:{sample_index}:{json.dumps(chat, sort_keys=True)}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry transient failures: ``max_retries`` extra attempts, waiting
    ``base * 2**attempt`` seconds (capped at ``max_wait``, with up to 50% jitter so that many
    clients do not retry in lockstep), or the server's ``Retry-After`` when it gives one."""

    max_retries: int = 5
    base: float = 0.5
    max_wait: float = 30.0

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_wait)
            except ValueError:
                pass  # an HTTP date; fall back to our own schedule
        delay = min(self.base * (2 ** attempt), self.max_wait)
        return delay * (0.5 + random.random() / 2)


class OpenAIBackend:
    """Backend over an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        ref: ``openai:<model>@<base_url>``; ``base_url`` usually ends in ``/v1``.
        api_key_env: name of the environment variable holding the API key (none sent if unset).
        concurrency: most requests in flight at once.
        timeout: seconds per request (connect, read and write each).
        max_retries, backoff_base, backoff_max: see ``RetryPolicy``.
        sample_requests: ``"per_sample"`` (one seeded request per sample, distinct and
            reproducible samples) or ``"n"`` (one request per chat with ``n``, unseeded).
        show_progress: show a progress bar when more than ``concurrency`` requests are sent.
    """

    def __init__(self, ref: ModelRef | str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16,
                 timeout: float = 120.0, max_retries: int = 5, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, sample_requests: str = "per_sample", show_progress: bool = True):
        ref = parse_model_ref(ref) if isinstance(ref, str) else ref
        if ref.scheme != "openai" or not ref.base_url:
            raise ModelRefError(f"the openai backend needs an openai:<model>@<base_url> reference, not {ref}")
        if ref.lora:
            raise ModelRefError(
                f"{ref}: an OpenAI-compatible server applies adapters itself; serve it there (vLLM: "
                "--enable-lora --lora-modules NAME=ADAPTER_DIR) and use openai:NAME@URL"
            )
        if sample_requests not in ("per_sample", "n"):
            raise ValueError(f"sample_requests must be 'per_sample' or 'n', not {sample_requests!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.ref = ref
        self.model_ref = str(ref)
        self.model = ref.name
        self.base_url = ref.base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries=max_retries, base=backoff_base, max_wait=backoff_max)
        self.sample_requests = sample_requests
        self.show_progress = show_progress

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_ref!r}, concurrency={self.concurrency})"

    # ---- HTTP ----------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(self.timeout),
                                 limits=httpx.Limits(max_connections=self.concurrency))

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict) -> dict:
        """POST with retries on transient failures; return the JSON answer or raise BackendError."""
        last_problem = ""
        for attempt in range(self.retry.max_retries + 1):
            retry_after = None
            try:
                response = await client.post(path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                # The exception's text names the URL, never our headers.
                last_problem = f"{exc.__class__.__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise BackendError(f"{self.model_ref}: {path} answered 200 with non-JSON text: "
                                           f"{response.text[:200]!r}") from None
                last_problem = f"HTTP {response.status_code}: {_server_message(response)}"
                if response.status_code not in RETRY_STATUS:
                    raise BackendError(f"{self.model_ref}: {path} refused the request ({last_problem})")
                retry_after = response.headers.get("retry-after")
            if attempt < self.retry.max_retries:
                await asyncio.sleep(self.retry.wait(attempt, retry_after))
        raise BackendError(f"{self.model_ref}: {path} still failing after {self.retry.max_retries + 1} attempts "
                           f"(last: {last_problem}); is the server up and not overloaded?")

    async def _gather(self, bodies: list[dict], description: str) -> list[dict]:
        """Send every body to /chat/completions, at most ``concurrency`` at once, in order."""
        semaphore = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            with progress_bar(description, len(bodies),
                              enabled=self.show_progress and len(bodies) > self.concurrency) as advance:
                async def one(body: dict) -> dict:
                    async with semaphore:
                        answer = await self._post(client, "/chat/completions", body)
                    advance(1)
                    return answer

                tasks = [asyncio.ensure_future(one(body)) for body in bodies]
                try:
                    return await asyncio.gather(*tasks)
                except BaseException:
                    # One failure stops the rest rather than leaving them retrying in the background.
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise

    # ---- sampling ------------------------------------------------------------------------
    def _body(self, chat: Chat, params: SamplingParams, n: int, seed: int | None) -> dict:
        body = {"model": self.model, "messages": chat, "n": n, "temperature": params.temperature,
                "top_p": params.top_p, "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        if n > 1:
            body["logprobs"] = True  # only to count each choice's tokens; usage gives the sum
        return body

    async def agenerate(self, chats: list[Chat], params: SamplingParams) -> list[Completion]:
        """``generate`` for callers already inside an event loop (a server, a notebook)."""
        if params.n < 1:
            raise ValueError(f"n must be at least 1, not {params.n}")
        per_sample = self.sample_requests == "per_sample" or params.n == 1
        jobs: list[tuple[int, int, int | None]] = []  # (chat index, first sample index, seed)
        bodies = []
        for chat_index, chat in enumerate(chats):
            if per_sample:
                for sample_index in range(params.n):
                    seed = chat_sample_seed(params.seed, sample_index, chat) if params.temperature > 0 else None
                    jobs.append((chat_index, sample_index, seed))
                    bodies.append(self._body(chat, params, 1, seed))
            else:
                jobs.append((chat_index, 0, None))
                bodies.append(self._body(chat, params, params.n, None))
        answers = await self._gather(bodies, f"sampling {self.model_ref}")
        completions = []
        for (chat_index, first_sample, seed), answer in zip(jobs, answers):
            completions.extend(self._completions(answer, chat_index, first_sample, seed, params.n if not per_sample
                                                 else 1))
        return completions

    def _completions(self, answer: dict, chat_index: int, first_sample: int, seed: int | None,
                     expected: int) -> list[Completion]:
        choices = sorted(answer.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != expected:
            raise BackendError(f"{self.model_ref}: asked for {expected} choice(s), the server returned "
                               f"{len(choices)}")
        usage = answer.get("usage") or {}
        out = []
        for offset, choice in enumerate(choices):
            if expected == 1:
                tokens = usage.get("completion_tokens")
            else:
                content = (choice.get("logprobs") or {}).get("content")
                tokens = len(content) if content is not None else None
            if tokens is None:
                raise BackendError(f"{self.model_ref}: the server reported no completion token count "
                                   "(usage.completion_tokens or logprobs); use sample_requests='per_sample'")
            out.append(Completion(
                chat_index=chat_index, sample_index=first_sample + offset,
                text=(choice.get("message") or {}).get("content") or "",
                prompt_tokens=int(usage.get("prompt_tokens", 0)), completion_tokens=int(tokens),
                finish_reason=choice.get("finish_reason") or "stop", seed=seed))
        return out

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` answers per chat; ordered by chat, then sample."""
        return _run(self.agenerate(chats, params))

    # ---- scoring -------------------------------------------------------------------------
    async def atop_logprobs(self, chats: list[Chat], k: int = 20) -> list[dict[str, float]]:
        bodies = [{"model": self.model, "messages": chat, "max_tokens": 1, "temperature": 0.0, "n": 1,
                   "logprobs": True, "top_logprobs": k} for chat in chats]
        answers = await self._gather(bodies, f"scoring {self.model_ref}")
        return [self._first_token_logprobs(answer) for answer in answers]

    def _first_token_logprobs(self, answer: dict) -> dict[str, float]:
        try:
            first = answer["choices"][0]["logprobs"]["content"][0]
            entries = first["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{self.model_ref}: the server returned no top_logprobs; it must support "
                               "logprobs=true and top_logprobs (vLLM and OpenAI do)") from None
        merged: dict[str, float] = {}
        for entry in entries:
            token, logprob = entry["token"], float(entry["logprob"])
            # Tokens that decode to the same text are one answer to a judge: add probabilities.
            merged[token] = _logaddexp(merged[token], logprob) if token in merged else logprob
        return merged

    def top_logprobs(self, chats: list[Chat], k: int = 20) -> list[dict[str, float]]:
        """Top-k first tokens of the answer, {token text: logprob}, from the server's logprobs
        (OpenAI allows k <= 20; vLLM up to its --max-logprobs, default 20)."""
        return _run(self.atop_logprobs(chats, k))


def _logaddexp(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high if low == -math.inf else high + math.log1p(math.exp(low - high))


def _server_message(response: httpx.Response) -> str:
    """The server's error message, short: OpenAI and vLLM put it in {"error": {"message": ...}}."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])[:300]
    return json.dumps(payload)[:300]


def _run(coroutine):
    """Run a coroutine from synchronous code, also when an event loop is already running in
    this thread (Jupyter, a FastAPI handler): then it runs on a private loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=target, name="tunewise-openai")
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


# Options that only mean something for weights loaded here; callers that pick the backend from
# the reference (``tunewise chat``, stages with a ``device`` setting) may pass them for any model.
LOCAL_ONLY_OPTIONS = ("trust_pickle", "device", "dtype", "batch_size")


def _factory(ref: ModelRef, **options) -> OpenAIBackend:
    for name in LOCAL_ONLY_OPTIONS:
        options.pop(name, None)
    return OpenAIBackend(ref, **options)


register_backend("openai", _factory)
