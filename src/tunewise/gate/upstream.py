"""What the gateway forwards allowed requests to: an OpenAI-compatible server, or any tunewise
backend running in this process.

``openai:<model>@<url>`` references are forwarded as raw JSON over httpx rather than through a
backend object: a gateway must pass through fields it does not know (tools, logprobs,
response_format) untouched, and only the ``model`` field is rewritten to the upstream's name.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import httpx

from tunewise.errors import BackendError
from tunewise.models.refs import ModelRef, parse_model_ref


class UpstreamError(BackendError):
    """The model behind the gateway failed; ``status`` is what the gateway answers (502/504)."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.status = status


class ChatModel(Protocol):
    name: str
    tokenizer: object | None

    async def complete(self, body: dict, timeout_s: float) -> dict:
        """An OpenAI ``chat.completion`` object for an already validated request body."""
        ...

    async def aclose(self) -> None:
        ...


class UpstreamModel:
    """Forward to ``<base_url>/chat/completions`` of an OpenAI-compatible server."""

    tokenizer = None

    def __init__(self, ref: ModelRef, max_connections: int = 64):
        self.name = ref.name
        self.url = ref.base_url.rstrip("/") + "/chat/completions"
        # Idle connections expire before a typical server's keep-alive timeout (uvicorn: 5 s), so
        # the gateway rarely reuses a connection the upstream is closing; the one retry below
        # covers the rest (seen once in 2,000 loopback requests before this was added).
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections,
                                                            max_keepalive_connections=max_connections,
                                                            keepalive_expiry=2.0))

    async def complete(self, body: dict, timeout_s: float) -> dict:
        payload = {**body, "model": self.name}
        try:
            try:
                response = await self.client.post(self.url, json=payload, timeout=timeout_s)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                # a pooled connection closed under us; a chat completion has no side effect to repeat
                response = await self.client.post(self.url, json=payload, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"upstream {self.url} timed out after {timeout_s}s", 504) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.url} unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise UpstreamError(f"upstream {self.url} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamError(f"upstream {self.url} answered invalid JSON: {response.text[:200]!r}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


class BackendModel:
    """A tunewise backend (``hf``, ``vllm``, ...) in this process. Generation runs on one
    worker thread: in-process engines are not safe to call from several threads at once, and
    the event loop must stay free to answer health checks and refusals while a model works."""

    def __init__(self, ref: str, backend_name: str | None = None, backend=None, **options):
        from tunewise.models.registry import load_backend

        self.backend = backend if backend is not None else load_backend(ref, backend=backend_name, **options)
        self.name = str(ref)
        self.tokenizer = getattr(self.backend, "tokenizer", None)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def complete(self, body: dict, timeout_s: float) -> dict:
        from tunewise.models.types import SamplingParams

        stop = body.get("stop") or []
        params = SamplingParams(n=body.get("n") or 1, temperature=body.get("temperature", 1.0),
                                top_p=body.get("top_p", 1.0), max_tokens=body["max_tokens"],
                                stop=[stop] if isinstance(stop, str) else list(stop), seed=body.get("seed") or 0)
        chat = [{"role": m["role"], "content": _text(m.get("content"))} for m in body["messages"]]
        loop = asyncio.get_running_loop()
        try:
            completions = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self.backend.generate, [chat], params), timeout_s)
        except asyncio.TimeoutError as exc:
            raise UpstreamError(f"model {self.name} took longer than {timeout_s}s", 504) from exc
        except Exception as exc:
            raise UpstreamError(f"model {self.name} failed: {type(exc).__name__}: {exc}") from exc
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.name,
            "choices": [{"index": c.sample_index, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason} for c in completions],
            "usage": {"prompt_tokens": completions[0].prompt_tokens if completions else 0,
                      "completion_tokens": sum(c.completion_tokens for c in completions),
                      "total_tokens": (completions[0].prompt_tokens if completions else 0)
                      + sum(c.completion_tokens for c in completions)},
        }

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _text(content) -> str:
    """Message content as plain text: OpenAI allows a list of typed parts (the gateway has
    already rejected any part that is not text)."""
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content)
    return content or ""


def open_chat_model(model: str, backend_name: str | None = None, **options) -> ChatModel:
    """``openai:`` references become an ``UpstreamModel``; anything else loads a backend."""
    ref = parse_model_ref(model)
    if ref.scheme == "openai" and backend_name in (None, "openai"):
        if ref.lora:
            raise BackendError(f"{model}: +lora is not supported for an upstream server; "
                               "load the adapter in that server and address it by name")
        return UpstreamModel(ref)
    return BackendModel(model, backend_name, **options)
