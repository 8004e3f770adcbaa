"""What the gateway forwards allowed requests to: an OpenAI-compatible server, or any tunewise
backend running in this process.

``openai:<model>@<url>`` references are forwarded as raw JSON over httpx rather than through a
backend object: a gateway must pass through fields it does not know (tools, logprobs,
response_format) untouched, and only the ``model`` field is rewritten to the upstream's name.
"""

from __future__ import annotations

import asyncio
import json
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

    async def open_stream(self, body: dict, timeout_s: float) -> "UpstreamStream":
        """A streamed completion; raises ``UpstreamError`` before the first event on failure."""
        ...

    async def aclose(self) -> None:
        ...


class UpstreamStream:
    """An upstream answer being streamed: ``events()`` yields each server-sent event's JSON
    object until ``[DONE]``; ``aclose()`` releases the connection (always called)."""

    def __init__(self, response: httpx.Response | None, redact, chunks: list[dict] | None = None):
        self._response, self._redact, self._chunks = response, redact, chunks

    async def events(self):
        if self._chunks is not None:
            for chunk in self._chunks:
                yield chunk
            return
        try:
            async for line in self._response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # comments, event names, blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise UpstreamError(f"upstream model server sent an event that is not JSON: "
                                        f"{self._redact(data[:200])!r}") from None
                if not isinstance(event, dict):
                    raise UpstreamError(f"upstream model server sent a JSON {type(event).__name__} event, "
                                        "not a chat.completion.chunk")
                if "error" in event:
                    raise UpstreamError(f"upstream model server failed mid-stream: "
                                        f"{self._redact(json.dumps(event['error'])[:300])}")
                yield event
        except httpx.TimeoutException as exc:
            raise UpstreamError("upstream model server stopped sending within the timeout", 504) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream model server stream broke: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()


class UpstreamModel:
    """Forward to ``<base_url>/chat/completions`` of an OpenAI-compatible server.

    The upstream URL and key are never shown: error messages say "upstream model server", and
    the key (read by ``ServeConfig.upstream_api_key_env``) is sent as a bearer header, so users
    need not put credentials in the URL (where /healthz, /v1/models and logs used to show them).
    """

    tokenizer = None

    def __init__(self, ref: ModelRef, max_connections: int = 64, api_key: str | None = None):
        self.name = ref.name
        self.url = ref.base_url.rstrip("/") + "/chat/completions"
        self._secrets = [s for s in (api_key, ref.base_url.rstrip("/"), httpx.URL(ref.base_url).host) if s]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Idle connections expire before a typical server's keep-alive timeout (uvicorn: 5 s), so
        # the gateway rarely reuses a connection the upstream is closing; the one retry below
        # covers the rest (seen once in 2,000 loopback requests before this was added).
        self.client = httpx.AsyncClient(headers=headers, limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=2.0))
        # non-streamed calls to a plain-HTTP upstream take the lean client (http_client.py: httpx
        # was half the event loop's CPU under load); HTTPS, proxies and streams stay on httpx
        from tunewise.gate.http_client import KeepAliveClient, usable_for

        self.fast = KeepAliveClient(self.url, headers, max_connections) if usable_for(self.url) else None

    def redact(self, text: str) -> str:
        """``text`` without the upstream URL, host or key (upstream error bodies may echo them)."""
        for secret in self._secrets:
            text = text.replace(secret, "[upstream]")
        return text

    def _status_error(self, status: int, text: str) -> UpstreamError:
        detail = self.redact(text[:300])
        if status in (400, 422):  # the upstream refused this request's content: the client's to fix
            return UpstreamError(f"the model server rejected the request: {detail}", 400)
        if status == 429:
            return UpstreamError(f"the model server is rate-limiting: {detail}", 429)
        return UpstreamError(f"upstream model server answered HTTP {status}: {detail}")

    async def _send(self, body: dict, timeout_s: float, stream: bool) -> httpx.Response:
        request = self.client.build_request("POST", self.url, json={**body, "model": self.name}, timeout=timeout_s)
        try:
            try:
                return await self.client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                # a pooled connection closed under us; a chat completion has no side effect to repeat
                request = self.client.build_request("POST", self.url, json={**body, "model": self.name},
                                                    timeout=timeout_s)
                return await self.client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"upstream model server timed out after {timeout_s}s", 504) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream model server unreachable: {type(exc).__name__}") from exc

    async def _post_fast(self, body: dict, timeout_s: float) -> tuple[int, str]:
        from tunewise.gate.http_client import HTTPFailure

        payload = json.dumps({**body, "model": self.name}, ensure_ascii=False).encode()
        try:
            status, answer = await self.fast.post(payload, timeout_s)
        except asyncio.TimeoutError as exc:
            raise UpstreamError(f"upstream model server timed out after {timeout_s}s", 504) from exc
        except HTTPFailure as exc:
            raise UpstreamError(f"upstream model server unreachable: {str(exc).split(':', 1)[0]}") from exc
        return status, answer.decode("utf-8", "replace")

    async def complete(self, body: dict, timeout_s: float) -> dict:
        if self.fast is not None:
            status, text = await self._post_fast(body, timeout_s)
        else:
            response = await self._send(body, timeout_s, stream=False)
            status, text = response.status_code, response.text
        if status != 200:
            raise self._status_error(status, text)
        try:
            result = json.loads(text)
        except ValueError as exc:
            raise UpstreamError(f"upstream model server answered invalid JSON: "
                                f"{self.redact(text[:200])!r}") from exc
        if not isinstance(result, dict) or not isinstance(result.get("choices"), list):
            kind = type(result).__name__ if not isinstance(result, dict) else "object without a choices list"
            raise UpstreamError(f"upstream model server answered a JSON {kind}, not a chat completion")
        return result

    async def open_stream(self, body: dict, timeout_s: float) -> UpstreamStream:
        """Start a streamed completion; raises ``UpstreamError`` before any byte reaches the client
        if the upstream does not answer 200."""
        response = await self._send({**body, "stream": True}, timeout_s, stream=True)
        if response.status_code != 200:
            try:
                text = (await response.aread()).decode("utf-8", "replace")
            finally:
                await response.aclose()
            raise self._status_error(response.status_code, text)
        return UpstreamStream(response, self.redact)

    async def aclose(self) -> None:
        if self.fast is not None:
            await self.fast.aclose()
        await self.client.aclose()


def completion_chunks(completion: dict) -> list[dict]:
    """A finished ``chat.completion`` as ``chat.completion.chunk`` events (role, content, finish)
    for models that cannot stream: the client reads one stream shape whatever the model."""
    base = {"id": completion.get("id", f"chatcmpl-{uuid.uuid4().hex}"), "object": "chat.completion.chunk",
            "created": completion.get("created", int(time.time())), "model": completion.get("model", "")}
    chunks = []
    for choice in completion.get("choices", []):
        index, message = choice.get("index", 0), choice.get("message", {})
        chunks.append({**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                            "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": index, "delta": {"content": message.get("content") or ""},
                                            "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": index, "delta": {},
                                            "finish_reason": choice.get("finish_reason", "stop")}]})
    return chunks


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

    async def open_stream(self, body: dict, timeout_s: float) -> UpstreamStream:
        """Generate the whole answer, then stream it as chunks (in-process backends do not stream)."""
        return UpstreamStream(None, str, completion_chunks(await self.complete(body, timeout_s)))

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _text(content) -> str:
    """Message content as plain text: OpenAI allows a list of typed parts (the gateway has
    already rejected any part that is not text)."""
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content)
    return content or ""


def open_chat_model(model: str, backend_name: str | None = None, api_key: str | None = None,
                    max_connections: int = 64, **options) -> ChatModel:
    """``openai:`` references become an ``UpstreamModel`` (a pool of ``max_connections``: the
    gateway passes its ``max_concurrency``, since more connections than model slots are never
    used, and httpcore checks every pooled connection on each request); anything else loads a
    backend."""
    ref = parse_model_ref(model)
    if ref.scheme == "openai" and backend_name in (None, "openai"):
        if ref.lora:
            raise BackendError(f"{model}: +lora is not supported for an upstream server; "
                               "load the adapter in that server and address it by name")
        return UpstreamModel(ref, max_connections=max_connections, api_key=api_key)
    return BackendModel(model, backend_name, **options)
