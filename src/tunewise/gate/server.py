"""``tunewise serve``: an OpenAI-compatible gateway that keeps a tuned model in its domain.

Every chat request passes the domain gate (all its user messages); in-domain requests go to
the model, out-of-domain ones get a refusal (an error status, or a fixed assistant message that
clients display like any answer). Every gated request is logged with its scores to SQLite.

Protection, in the order a request meets it: bearer auth (token read from an environment
variable, compared in constant time, never logged), body size (counted while reading, so a
huge body is cut off early), JSON and schema validation (errors name the field), input and
token limits, the gate, a concurrency limit on model calls (waiting at most
``queue_timeout_s``), and a timeout on the model call. SIGTERM/SIGINT stop accepting
connections and let in-flight requests finish (uvicorn's graceful shutdown), then the decision
log is drained.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise.errors import ConfigError
from tunewise.gate.batcher import GateBatcher
from tunewise.gate.decision_log import DecisionLog
from tunewise.gate.gate import DomainGate
from tunewise.gate.prometheus import GatewayMetrics
from tunewise.gate.serving import ServeConfig
from tunewise.gate.upstream import ChatModel, UpstreamError, open_chat_model


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields the gateway checks; everything else passes through to an upstream server."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: bool | None = None


def _error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None, **extra):
    return JSONResponse({"error": {"message": message, "type": kind, "code": code or kind, "param": None, **extra}},
                        status_code=status, headers=headers)


class _TooLarge(Exception):
    pass


async def _read_body(request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: ServeConfig, gate: DomainGate | None = None, model: ChatModel | None = None):
    """Build the FastAPI app. ``gate`` and ``model`` default to loading ``config.gate`` and
    opening ``config.model`` (tests pass their own, still real, objects)."""
    token = config.auth_token()
    if gate is None and not config.gate:
        raise ConfigError("gate: no gate folder given (ServeConfig.gate, or run_serve with a run folder)")
    gate = gate or DomainGate.load(config.gate)
    served_name = config.served_model_name or config.model
    if not config.decisions_db and not config.gate:
        raise ConfigError("decisions_db: give it, or the gate folder it defaults into")
    decisions_path = Path(config.decisions_db or Path(config.gate) / "decisions.sqlite")
    metrics = GatewayMetrics()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        if config.torch_threads:
            # One thread: single short texts gain little from two, and on a busy 2-core machine two
            # threads wait on each other (measured: embedding one text p50 1974 ms with torch's
            # default 2 threads vs 145 ms with 1, load average ~19). Batching supplies the throughput.
            import torch

            torch.set_num_threads(config.torch_threads)
        state["model"] = model or open_chat_model(config.model, config.backend)
        state["batcher"] = GateBatcher(gate)
        state["batcher"].start()
        state["slots"] = asyncio.Semaphore(config.max_concurrency)
        state["log"] = DecisionLog(decisions_path, log_texts=config.log_texts)
        gate.decide(["warm-up"])  # load the embedding model before the first request, not during it
        try:
            yield
        finally:
            await state["batcher"].close()
            await state["model"].aclose()
            state["log"].close()

    app = FastAPI(title="tunewise gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.metrics = metrics
    app.state.decisions_path = decisions_path

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    def unauthorised():
        return _error(401, "missing or invalid bearer token (Authorization: Bearer <token>)", "authentication_error",
                      "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": served_name, "gate": {"threshold": gate.threshold,
                                                               "detectors": list(gate.normalisation)}}

    @app.get("/metrics")
    async def prometheus_metrics(request: Request):
        if not authorised(request):
            return unauthorised()
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models(request: Request):
        if not authorised(request):
            return unauthorised()
        return {"object": "list", "data": [{"id": served_name, "object": "model", "created": 0,
                                            "owned_by": "tunewise"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        started = time.perf_counter()
        metrics.in_flight += 1
        try:
            response, outcome = await _handle(request, started)
        finally:
            metrics.in_flight -= 1
        metrics.count(outcome, response.status_code)
        metrics.observe_request(time.perf_counter() - started)
        return response

    async def _handle(request: Request, started: float):
        if not authorised(request):
            return unauthorised(), "unauthorised"
        try:
            raw = await _read_body(request, config.max_body_bytes)
        except _TooLarge:
            return _error(413, f"request body larger than {config.max_body_bytes} bytes", "invalid_request_error",
                          "request_too_large"), "invalid"
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            return _error(400, f"request body is not valid JSON{where}: {getattr(exc, 'msg', exc)}",
                          "invalid_request_error", "invalid_json"), "invalid"
        try:
            chat = ChatRequest.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
            return _error(400, f"invalid chat request: {problems}", "invalid_request_error", "invalid_request"), "invalid"
        if chat.stream:
            return _error(400, "stream=true is not supported by the tunewise gateway; send stream=false",
                          "invalid_request_error", "stream_not_supported"), "invalid"
        problem = _check_limits(chat)
        if problem:
            return _error(400, problem, "invalid_request_error", "limit_exceeded"), "invalid"

        texts = [m.text() for m in chat.messages if m.role == "user"] or [chat.messages[-1].text()]
        gate_started = time.perf_counter()
        try:
            decisions = await state["batcher"].decide(texts)
        except Exception as exc:  # fail closed: an unscored request never reaches the model
            return _error(500, f"domain gate failed: {type(exc).__name__}", "server_error", "gate_error"), "error"
        gate_ms = (time.perf_counter() - gate_started) * 1000
        metrics.observe_gate(gate_ms / 1000)
        worst = max(decisions, key=lambda d: d.score)
        allowed = all(d.allowed for d in decisions)
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        gate_headers = {"X-Tunewise-Gate": "allowed" if allowed else "refused",
                        "X-Tunewise-Gate-Score": f"{worst.score:.4f}", "X-Tunewise-Gate-Ms": f"{gate_ms:.2f}"}

        if not allowed:
            response, outcome = _refusal(request_id, worst, gate_headers), "refused"
        else:
            response, outcome = await _forward(chat, payload, gate_headers)
        state["log"].log(request_id=request_id, model=served_name, allowed=allowed, score=worst.score,
                         threshold=worst.threshold, detectors=worst.detectors, texts=texts,
                         status=response.status_code, gate_ms=gate_ms,
                         total_ms=(time.perf_counter() - started) * 1000)
        return response, outcome

    def _check_limits(chat: ChatRequest) -> str | None:
        chars = sum(len(m.text()) for m in chat.messages)
        if chars > config.max_input_chars:
            return f"messages hold {chars} characters; this gateway accepts at most {config.max_input_chars}"
        asked = chat.max_completion_tokens or chat.max_tokens
        if asked is not None and asked > config.max_completion_tokens:
            return f"max_tokens {asked} is above this gateway's limit of {config.max_completion_tokens}"
        if (chat.n or 1) > config.max_n:
            return f"n={chat.n} is above this gateway's limit of {config.max_n}"
        tokenizer = getattr(state["model"], "tokenizer", None)
        if config.max_prompt_tokens and tokenizer is not None:
            count = sum(len(tokenizer(m.text(), add_special_tokens=False)["input_ids"]) for m in chat.messages)
            if count > config.max_prompt_tokens:
                return f"messages hold {count} tokens; this gateway accepts at most {config.max_prompt_tokens}"
        return None

    def _refusal(request_id: str, worst, headers: dict):
        details = {"score": round(worst.score, 4), "threshold": round(worst.threshold, 4)}
        if config.refusal == "error":
            return _error(config.refusal_status, "this request is outside the domain this model serves",
                          "out_of_domain", headers=headers, gate=details)
        return JSONResponse({
            "id": request_id, "object": "chat.completion", "created": int(time.time()), "model": served_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": config.refusal_message},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "tunewise_gate": {"refused": True, **details},
        }, headers=headers)

    async def _forward(chat: ChatRequest, payload: dict, headers: dict):
        body = {**payload, "messages": [m.model_dump(exclude_none=True) for m in chat.messages],
                "max_tokens": chat.max_completion_tokens or chat.max_tokens or config.default_max_tokens}
        body.pop("max_completion_tokens", None)
        try:
            await asyncio.wait_for(state["slots"].acquire(), config.queue_timeout_s)
        except asyncio.TimeoutError:
            return _error(503, f"all {config.max_concurrency} model slots busy for {config.queue_timeout_s}s; "
                          "retry later", "server_error", "overloaded", headers={**headers, "Retry-After": "1"}), "overloaded"
        try:
            result = await state["model"].complete(body, config.request_timeout_s)
        except UpstreamError as exc:
            return _error(exc.status, str(exc), "upstream_error", headers=headers), "upstream_error"
        finally:
            state["slots"].release()
        result["model"] = served_name
        return JSONResponse(result, headers=headers), "allowed"

    return app


def serve(config: ServeConfig, gate: DomainGate | None = None, model: ChatModel | None = None) -> None:
    """Run the gateway until SIGINT/SIGTERM; in-flight requests finish before it exits."""
    import uvicorn

    app = create_app(config, gate=gate, model=model)
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                                  timeout_graceful_shutdown=config.graceful_shutdown_s, access_log=False)).run()
