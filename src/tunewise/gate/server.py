"""``tunewise serve``: an OpenAI-compatible gateway that keeps a tuned model in its domain.

Every chat request passes the domain gate (every text the model will read: see
``conversation.py`` for the policy per role); in-domain requests go to the model, out-of-domain
ones get a refusal (an error status, or a fixed assistant message that clients display like any
answer), streamed or not. Every gated request is logged with its scores to SQLite.

Protection, in the order a request meets it: bearer auth (token read from an environment
variable, compared in constant time, never logged), body size and body-read time (counted while
reading, so a huge or trickled body is cut off early), JSON with bounded depth and number size,
text checks (lone surrogates, NUL), schema validation (errors name the field), unknown fields,
limits (messages, characters, gated texts, tokens), the gate, a concurrency limit on model calls
(waiting at most ``queue_timeout_s``), and a timeout on the model call. Every client error is a
4xx JSON body naming the field (``error.param``); upstream faults are 502/504 with messages
that never show the upstream URL or key; one request's bad text never reaches another's batch. SIGTERM/SIGINT stop accepting
connections and let in-flight requests finish (uvicorn's graceful shutdown), then the decision
log is drained.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunewise.data.untrusted import UntrustedInputError, parse_json_value
from tunewise.errors import ConfigError
from tunewise.gate.batcher import GateBatcher
from tunewise.gate.conversation import ChatRequest, SAMPLING_FIELDS, gated_texts, problems_in_value
from tunewise.gate.decision_log import DecisionLog
from tunewise.gate.gate import DomainGate
from tunewise.gate.prometheus import GatewayMetrics
from tunewise.gate.serving import ServeConfig
from tunewise.gate.upstream import ChatModel, UpstreamError, completion_chunks, open_chat_model

logger = logging.getLogger("tunewise.gate.server")


def _error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None,
           param: str | None = None, **extra):
    return JSONResponse({"error": {"message": message, "type": kind, "code": code or kind, "param": param, **extra}},
                        status_code=status, headers=headers)


def _invalid(message: str, param: str | None = None, code: str = "invalid_request"):
    return _error(400, message, "invalid_request_error", code, param=param)


def _field(loc) -> str:
    """A pydantic error location as the client wrote it: ``messages.0.content`` (union branch
    names such as ``str`` or ``list[...]`` left out)."""
    parts = [str(p) for p in loc if isinstance(p, int) or not any(c in str(p) for c in "[]()'\" ")]
    parts = [p for p in parts if p not in ("str", "int", "float", "bool", "dict", "list", "none", "function-after",
                                           "constrained-str", "literal")]
    parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]  # tagged unions repeat the tag
    return ".".join(parts) or "body"


def _sse(event) -> bytes:
    return f"data: {event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)}\n\n".encode()


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
    api_key = config.upstream_api_key()
    if gate is None and not config.gate:
        raise ConfigError("gate: no gate folder given (ServeConfig.gate, or run_serve with a run folder)")
    gate = gate or DomainGate.load(config.gate)
    served_name = config.public_model_name()
    if not config.decisions_db and not config.gate:
        raise ConfigError("decisions_db: give it, or the gate folder it defaults into")
    decisions_path = Path(config.decisions_db or Path(config.gate) / "decisions.sqlite")
    trusted = frozenset(config.trusted_system_sha256 or ())
    ungated = frozenset(config.ungated_roles or ())
    known_fields = set(SAMPLING_FIELDS) | set(config.passthrough_fields or ())
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
        state["model"] = model or open_chat_model(config.model, config.backend, api_key=api_key)
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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # unknown paths and methods answer in the OpenAI error shape too, so clients read them alike
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", "invalid_request_error",
                      "not_found" if exc.status_code == 404 else "invalid_request", headers=exc.headers)
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
        except Exception:  # a bug of ours, never the client's input: logged with its traceback, no detail out
            request_id = uuid.uuid4().hex
            logger.exception("request %s failed inside the gateway", request_id)
            response, outcome = _error(500, f"internal gateway error (request {request_id}; see the gateway log)",
                                       "server_error", "internal_error"), "error"
        finally:
            metrics.in_flight -= 1
        metrics.count(outcome, response.status_code)
        metrics.observe_request(time.perf_counter() - started)
        return response

    async def _read_request(request: Request):
        """(ChatRequest, None) or (None, a 4xx response naming what is wrong)."""
        try:
            raw = await asyncio.wait_for(_read_body(request, config.max_body_bytes), config.body_timeout_s)
        except _TooLarge:
            return None, _error(413, f"request body larger than {config.max_body_bytes} bytes",
                                "invalid_request_error", "request_too_large")
        except asyncio.TimeoutError:
            return None, _error(408, f"request body not received within {config.body_timeout_s}s",
                                "invalid_request_error", "request_timeout")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, _invalid(f"request body is not UTF-8 (byte {exc.start})", code="invalid_json")
        try:
            payload = parse_json_value(text)
        except UntrustedInputError as exc:
            return None, _invalid(f"request body is not acceptable JSON: {exc}", code="invalid_json")
        if not isinstance(payload, dict):
            return None, _invalid(f"request body must be a JSON object, got a JSON {type(payload).__name__}", "body")
        problem = problems_in_value(payload)
        if problem:
            return None, _invalid(problem, problem.split(":", 1)[0].removesuffix(" key"))
        try:
            chat = ChatRequest.model_validate(payload)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            problems = list(dict.fromkeys(f"{_field(e['loc'])}: {e['msg']}" for e in errors))
            return None, _invalid("invalid chat request: " + "; ".join(problems[:5])
                                  + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""),
                                  _field(errors[0]["loc"]))
        unknown = sorted(set(chat.model_extra or {}) - known_fields)
        if unknown:
            return None, _invalid(f"{unknown[0]}: field not accepted by this gateway (a server could render it "
                                  "into the prompt without the gate seeing it); the operator can allow it with "
                                  "passthrough_fields", unknown[0], "unknown_field")
        return chat, None

    async def _handle(request: Request, started: float):
        if not authorised(request):
            return unauthorised(), "unauthorised"
        chat, problem_response = await _read_request(request)
        if problem_response is not None:
            return problem_response, "invalid"
        gated = gated_texts(chat, trusted, ungated)
        problem = _check_limits(chat, gated)
        if problem:
            return _error(400, problem[1], "invalid_request_error", "limit_exceeded", param=problem[0]), "invalid"

        texts = [g.text for g in gated]
        gate_started = time.perf_counter()
        try:
            decisions = await state["batcher"].decide(texts) if texts else []
        except Exception as exc:  # fail closed: an unscored request never reaches the model
            logger.error("domain gate failed: %s: %s", type(exc).__name__, exc)
            return _error(500, f"domain gate failed: {type(exc).__name__}", "server_error", "gate_error"), "error"
        gate_ms = (time.perf_counter() - gate_started) * 1000
        metrics.observe_gate(gate_ms / 1000)
        # nothing to gate: only the operator's pinned system prompt (the model reads nothing else)
        worst_index = max(range(len(decisions)), key=lambda i: decisions[i].score) if decisions else None
        worst = decisions[worst_index] if decisions else None
        allowed = all(d.allowed for d in decisions)
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        gate_headers = {"X-Tunewise-Gate": "allowed" if allowed else "refused",
                        "X-Tunewise-Gate-Score": f"{worst.score:.4f}" if worst else "none",
                        "X-Tunewise-Gate-Ms": f"{gate_ms:.2f}"}
        if worst is not None:
            gate_headers["X-Tunewise-Gate-Field"] = gated[worst_index].where

        if not allowed:
            response, outcome = _refusal(chat, request_id, worst, gated[worst_index].where, gate_headers), "refused"
        elif chat.stream:
            response, outcome = await _forward_stream(chat, gate_headers)
        else:
            response, outcome = await _forward(chat, gate_headers)
        state["log"].log(request_id=request_id, model=served_name, allowed=allowed,
                         score=worst.score if worst else float("-inf"), threshold=gate.threshold,
                         detectors=worst.detectors if worst else {}, texts=texts,
                         status=response.status_code, gate_ms=gate_ms,
                         total_ms=(time.perf_counter() - started) * 1000)
        return response, outcome

    def _check_limits(chat: ChatRequest, gated) -> tuple[str, str] | None:
        """(field, message) for the first limit ``chat`` exceeds, else None."""
        if len(chat.messages) > config.max_messages:
            return "messages", f"{len(chat.messages)} messages; this gateway accepts at most {config.max_messages}"
        definitions = json.dumps([chat.tools, chat.functions, chat.response_format], default=str)
        chars = sum(len(m.text()) for m in chat.messages) + (len(definitions) if chat.tools or chat.functions
                                                              or chat.response_format else 0)
        if chars > config.max_input_chars:
            return "messages", (f"messages and definitions hold {chars} characters; this gateway accepts at most "
                                f"{config.max_input_chars}")
        if len(gated) > config.max_gated_texts:
            return "messages", (f"the request holds {len(gated)} texts to gate; this gateway accepts at most "
                                f"{config.max_gated_texts}")
        asked = chat.max_completion_tokens or chat.max_tokens
        if asked is not None and asked > config.max_completion_tokens:
            field = "max_completion_tokens" if chat.max_completion_tokens else "max_tokens"
            return field, f"max_tokens {asked} is above this gateway's limit of {config.max_completion_tokens}"
        if (chat.n or 1) > config.max_n:
            return "n", f"n={chat.n} is above this gateway's limit of {config.max_n}"
        tokenizer = getattr(state["model"], "tokenizer", None)
        if config.max_prompt_tokens and tokenizer is not None:
            count = sum(len(tokenizer(m.text(), add_special_tokens=False)["input_ids"]) for m in chat.messages)
            if count > config.max_prompt_tokens:
                return "messages", f"messages hold {count} tokens; this gateway accepts at most {config.max_prompt_tokens}"
        return None

    def _refusal(chat: ChatRequest, request_id: str, worst, where: str, headers: dict):
        details = {"score": round(worst.score, 4), "threshold": round(worst.threshold, 4), "field": where}
        if config.refusal == "error":
            return _error(config.refusal_status, f"this request is outside the domain this model serves ({where})",
                          "out_of_domain", headers=headers, param=where, gate=details)
        completion = {
            "id": request_id, "object": "chat.completion", "created": int(time.time()), "model": served_name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": config.refusal_message},
                         "finish_reason": "stop"} for i in range(chat.n or 1)],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "tunewise_gate": {"refused": True, **details},
        }
        if chat.stream:
            chunks = completion_chunks(completion)
            chunks[-1]["tunewise_gate"] = completion["tunewise_gate"]
            return StreamingResponse(iter([*(_sse(c) for c in chunks), _sse("[DONE]")]),
                                     media_type="text/event-stream", headers=headers)
        return JSONResponse(completion, headers=headers)

    def _body(chat: ChatRequest) -> dict:
        body = chat.forward_body()
        body["max_tokens"] = chat.max_completion_tokens or chat.max_tokens or config.default_max_tokens
        body.pop("max_completion_tokens", None)
        return body

    async def _slot(headers: dict):
        try:
            await asyncio.wait_for(state["slots"].acquire(), config.queue_timeout_s)
        except asyncio.TimeoutError:
            return _error(503, f"all {config.max_concurrency} model slots busy for {config.queue_timeout_s}s; "
                          "retry later", "server_error", "overloaded", headers={**headers, "Retry-After": "1"})
        return None

    async def _forward(chat: ChatRequest, headers: dict):
        busy = await _slot(headers)
        if busy is not None:
            return busy, "overloaded"
        try:
            result = await state["model"].complete(_body(chat), config.request_timeout_s)
        except UpstreamError as exc:
            return _error(exc.status, str(exc), "upstream_error" if exc.status >= 500 else "invalid_request_error",
                          headers=headers), "upstream_error"
        finally:
            state["slots"].release()
        result["model"] = served_name
        return JSONResponse(result, headers=headers), "allowed"

    async def _forward_stream(chat: ChatRequest, headers: dict):
        """The gate has allowed the request; open the upstream stream first, so a failing
        upstream is a plain 502/504 JSON error, then relay its events (model name rewritten)."""
        busy = await _slot(headers)
        if busy is not None:
            return busy, "overloaded"
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                state["slots"].release()

        try:
            upstream = await state["model"].open_stream(_body(chat), config.request_timeout_s)
        except UpstreamError as exc:
            release()
            return _error(exc.status, str(exc), "upstream_error" if exc.status >= 500 else "invalid_request_error",
                          headers=headers), "upstream_error"
        except BaseException:
            release()
            raise

        async def relay():
            try:
                async for event in upstream.events():
                    event["model"] = served_name
                    yield _sse(event)
                yield _sse("[DONE]")
            except UpstreamError as exc:  # mid-stream: the openai client raises APIError on an error event
                yield _sse({"error": {"message": str(exc), "type": "upstream_error", "code": "upstream_error",
                                      "param": None}})
            finally:
                await upstream.aclose()
                release()

        async def cleanup() -> None:
            await upstream.aclose()
            release()

        return StreamingResponse(relay(), media_type="text/event-stream", headers=headers,
                                 background=BackgroundTask(cleanup)), "allowed"

    return app


def serve(config: ServeConfig, gate: DomainGate | None = None, model: ChatModel | None = None) -> None:
    """Run the gateway until SIGINT/SIGTERM; in-flight requests finish before it exits."""
    import uvicorn

    app = create_app(config, gate=gate, model=model)
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                                  timeout_graceful_shutdown=config.graceful_shutdown_s, access_log=False)).run()
