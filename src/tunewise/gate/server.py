"""``tunewise serve``: an OpenAI-compatible gateway that keeps a tuned model in its domain.

Every chat request passes the domain gate (every text the model will read: see
``conversation.py`` for the policy per role); in-domain requests go to the model, out-of-domain
ones get a refusal (an error status, or a fixed assistant message that clients display like any
answer), streamed or not. Every gated request is logged with its scores to SQLite.

Protection, in the order a request meets it: bearer auth (token read from an environment
variable, compared in constant time, never logged), the request checks of ``requests.py`` (body
size and read time, JSON, text, schema, unknown fields, limits), the gate, a concurrency limit on
model calls (waiting at most ``queue_timeout_s``), a timeout on the model call
(``forwarding.py``), and optionally the answer-side monitor (``monitor.py``). Every client error is a
4xx JSON body naming the field (``error.param``); upstream faults are 502/504 with messages
that never show the upstream URL or key; one request's bad text never reaches another's batch. SIGTERM/SIGINT stop accepting
connections and let in-flight requests finish (uvicorn's graceful shutdown), then the decision
log is drained.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hmac
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunewise.errors import ConfigError
from tunewise.gate.batcher import GateBatcher
from tunewise.gate.conversation import SAMPLING_FIELDS, gated_texts
from tunewise.gate.decision_log import DecisionLog
from tunewise.gate.forwarding import Forwarder
from tunewise.gate.gate import DomainGate
from tunewise.gate.prometheus import GatewayMetrics
from tunewise.gate.requests import check_limits, error_response, read_chat_request
from tunewise.gate.serving import ServeConfig
from tunewise.gate.upstream import ChatModel, open_chat_model

logger = logging.getLogger("tunewise.gate.server")
CHAT_PATH = "/v1/chat/completions"
# How long an idle client connection stays open. Above the 5 s after which httpx (and so the
# openai package) drops an idle connection, so such a client never reuses one the gateway is
# closing: with uvicorn's default of 5 s the two timers race, more so under uvloop (libuv runs due
# timers before reading sockets). Seen as one httpx ReadError in 2,100 benchmark requests at load
# average ~8, with uvloop, before this was set.
KEEP_ALIVE_S = 30


class GatewayApp(FastAPI):
    """FastAPI for the small routes; ``POST /v1/chat/completions`` is dispatched before
    FastAPI's middleware stack and router (error and exception middlewares, body limit, exit
    stack, routing, dependency solving), which the route does not need: its handler answers every
    error itself, in the OpenAI shape. Measured in process (CPU time, best of 7 x 500 requests):
    ~600 us per request through FastAPI, ~410 us dispatched here. Other methods and paths (405,
    404) still go through FastAPI."""

    chat_endpoint = None

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope["path"] == CHAT_PATH and scope["method"] == "POST"
                and self.chat_endpoint is not None):
            scope["app"] = self
            response = await self.chat_endpoint(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(config: ServeConfig, gate: DomainGate | None = None, model: ChatModel | None = None, *,
               own_process: bool = False):
    """Build the FastAPI app. ``gate`` and ``model`` default to loading ``config.gate`` and
    opening ``config.model`` (tests pass their own, still real, objects); ``own_process``: the
    app is the process's only work (``serve``), so process-wide tuning applies."""
    token = config.auth_token()
    api_key = config.upstream_api_key()
    if gate is None and not config.gate:
        raise ConfigError("gate: no gate folder given (ServeConfig.gate, or run_serve with a run folder)")
    gate = gate or DomainGate.load(config.gate)
    if config.embedding_cache_size:
        from tunewise.gate.embedders import CachedEmbedder

        # a copy: the caller's gate (shared by tests, say) keeps its own embedder
        gate = dataclasses.replace(gate, embedder=CachedEmbedder(gate.embedder, config.embedding_cache_size))
    served_name = config.public_model_name()
    if not config.decisions_db and not config.gate:
        raise ConfigError("decisions_db: give it, or the gate folder it defaults into")
    decisions_path = Path(config.decisions_db or Path(config.gate) / "decisions.sqlite")
    trusted = frozenset(config.trusted_system_sha256 or ())
    ungated = frozenset(config.ungated_roles or ())
    known_fields = set(SAMPLING_FIELDS) | set(config.passthrough_fields or ())
    metrics = GatewayMetrics()
    state: dict = {}
    monitor = None
    if config.answer_monitor != "off":
        from tunewise.gate.monitor import AnswerMonitor

        monitor = AnswerMonitor(config.answer_monitor_judge, config.answer_monitor_preset,
                                timeout_s=config.answer_monitor_timeout_s)
    forwarder = Forwarder(config, served_name, state, monitor)

    @asynccontextmanager
    async def lifespan(app):
        if config.torch_threads:
            # numpy's OpenBLAS starts one thread per core and its idle workers spin: the detectors'
            # small products (1 x 384 against a few hundred references) gain nothing from a second
            # thread, which cost ~1.5 ms of CPU per request under load (measured per thread, /proc)
            from threadpoolctl import threadpool_limits

            threadpool_limits(config.torch_threads)
        if config.torch_threads and (gate.embedder_name == "minilm" or gate.likelihood is not None or monitor):
            # One thread: single short texts gain little from two, and on a busy 2-core machine two
            # threads wait on each other (measured: embedding one text p50 1974 ms with torch's
            # default 2 threads vs 145 ms with 1, load average ~19). Batching supplies the throughput.
            # Not imported for the ONNX embedder alone: torch would cost seconds and ~0.5 GB for nothing.
            import torch

            torch.set_num_threads(config.torch_threads)
        state["model"] = model or open_chat_model(config.model, config.backend, api_key=api_key,
                                                  max_connections=config.max_concurrency)
        state["batcher"] = GateBatcher(gate)
        state["batcher"].start()
        state["slots"] = asyncio.Semaphore(config.max_concurrency)
        state["log"] = DecisionLog(decisions_path, log_texts=config.log_texts)
        if monitor is not None:
            monitor.start()
        gate.decide(["warm-up"])  # load the embedding model before the first request, not during it
        if own_process:
            # everything loaded so far (models, modules) lives as long as the process: moved out
            # of the collector's reach, a full collection no longer walks it (py-spy: the
            # collector was ~6% of the gateway's samples under load). Only when the gateway owns the
            # process (``serve``): in a test process it would pin every test's objects.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await state["batcher"].close()
            if monitor is not None:
                await monitor.close()
            await state["model"].aclose()
            state["log"].close()

    app = GatewayApp(title="tunewise gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # unknown paths and methods answer in the OpenAI error shape too, so clients read them alike
        return error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                              "invalid_request_error", "not_found" if exc.status_code == 404 else "invalid_request",
                              headers=exc.headers)
    app.state.config = config
    app.state.metrics = metrics
    app.state.decisions_path = decisions_path
    app.state.gate = gate

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    def unauthorised():
        return error_response(401, "missing or invalid bearer token (Authorization: Bearer <token>)",
                              "authentication_error", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": served_name, "gate": {"threshold": gate.threshold,
                                                               "detectors": list(gate.normalisation),
                                                               "embedder": gate.embedder_name},
                "answer_monitor": config.answer_monitor}

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

    @app.post(CHAT_PATH)
    async def chat_completions(request: Request):
        started = time.perf_counter()
        metrics.in_flight += 1
        try:
            response, outcome = await _handle(request, started)
        except Exception:  # a bug of ours, never the client's input: logged with its traceback, no detail out
            request_id = uuid.uuid4().hex
            logger.exception("request %s failed inside the gateway", request_id)
            response, outcome = error_response(500, f"internal gateway error (request {request_id}; see the "
                                               "gateway log)", "server_error", "internal_error"), "error"
        finally:
            metrics.in_flight -= 1
        metrics.count(outcome, response.status_code)
        metrics.observe_request(time.perf_counter() - started)
        return response

    app.chat_endpoint = chat_completions

    async def _handle(request: Request, started: float):
        if not authorised(request):
            return unauthorised(), "unauthorised"
        chat, problem_response = await read_chat_request(request, config, known_fields)
        if problem_response is not None:
            return problem_response, "invalid"
        gated = gated_texts(chat, trusted, ungated)
        problem = check_limits(chat, gated, config, getattr(state["model"], "tokenizer", None))
        if problem:
            return error_response(400, problem[1], "invalid_request_error", "limit_exceeded",
                                  param=problem[0]), "invalid"

        texts = [g.text for g in gated]
        gate_started = time.perf_counter()
        try:
            decisions = await state["batcher"].decide(texts) if texts else []
        except Exception as exc:  # fail closed: an unscored request never reaches the model
            logger.error("domain gate failed: %s: %s", type(exc).__name__, exc)
            return error_response(500, f"domain gate failed: {type(exc).__name__}", "server_error",
                                  "gate_error"), "error"
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

        verdict = None
        if not allowed:
            response = forwarder.refusal(chat, request_id, worst, gated[worst_index].where, gate_headers)
            outcome = "refused"
        elif chat.stream:
            response, outcome, verdict = await forwarder.forward_stream(chat, gate_headers)
        else:
            response, outcome, verdict = await forwarder.forward(chat, gate_headers)

        def log(monitor_verdict) -> None:
            state["log"].log(request_id=request_id, model=served_name, allowed=allowed,
                             score=worst.score if worst else float("-inf"), threshold=gate.threshold,
                             detectors=worst.detectors if worst else {}, texts=texts,
                             status=response.status_code, gate_ms=gate_ms,
                             total_ms=(time.perf_counter() - started) * 1000,
                             monitor=monitor_verdict.record() if monitor_verdict is not None else None)

        if isinstance(verdict, asyncio.Future):  # a relayed stream: judged once it has ended
            verdict.add_done_callback(lambda done: log(None if done.cancelled() else done.result()))
        else:
            log(verdict)
        return response, outcome

    return app


def serve(config: ServeConfig, gate: DomainGate | None = None, model: ChatModel | None = None) -> None:
    """Run the gateway until SIGINT/SIGTERM; in-flight requests finish before it exits."""
    import uvicorn

    app = create_app(config, gate=gate, model=model, own_process=True)
    # loop and http "auto": uvloop and httptools when installed (dependencies of tunewise),
    # asyncio and h11 otherwise. No proxy-header rewriting: the gateway never reads the client
    # address, and the middleware would run on every request.
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info", loop="auto", http="auto",
                                  proxy_headers=False, timeout_keep_alive=KEEP_ALIVE_S,
                                  timeout_graceful_shutdown=config.graceful_shutdown_s, access_log=False)).run()
