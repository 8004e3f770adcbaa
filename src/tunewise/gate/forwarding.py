"""What the gateway does after the gate's verdict (split out of ``server.py``): a refusal, or the
model call (a concurrency slot, then the upstream, streamed or not), with the answer-side
monitor (``monitor.py``) reading the answer on the way out when it is on.

Each ``forward*`` returns ``(response, outcome, monitor)``: ``monitor`` is the
``MonitorVerdict`` (or None when the monitor is off or no answer came), or, for a stream relayed
in ``record`` mode, a future that holds the verdict once the stream has ended, so the decision
log row is written then.
"""

from __future__ import annotations

import asyncio
import time

from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from tunewise.gate.conversation import ChatRequest
from tunewise.gate.http_client import within
from tunewise.gate.monitor import (AnswerMonitor, MonitorVerdict, answers_of, answers_of_chunks, blocked_completion,
                                   question_of)
from tunewise.gate.requests import error_response, sse
from tunewise.gate.upstream import UpstreamError, completion_chunks


class Forwarder:
    def __init__(self, config, served_name: str, state: dict, monitor: AnswerMonitor | None):
        self.config, self.served_name, self.state, self.monitor = config, served_name, state, monitor

    def refusal(self, chat: ChatRequest, request_id: str, worst, where: str, headers: dict):
        config = self.config
        details = {"score": round(worst.score, 4), "threshold": round(worst.threshold, 4), "field": where}
        if config.refusal == "error":
            return error_response(config.refusal_status, f"this request is outside the domain this model serves "
                                  f"({where})", "out_of_domain", headers=headers, param=where, gate=details)
        completion = {
            "id": request_id, "object": "chat.completion", "created": int(time.time()), "model": self.served_name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": config.refusal_message},
                         "finish_reason": "stop"} for i in range(chat.n or 1)],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "tunewise_gate": {"refused": True, **details},
        }
        if chat.stream:
            return _stream_of(completion, "tunewise_gate", headers)
        return JSONResponse(completion, headers=headers)

    def _body(self, chat: ChatRequest) -> dict:
        body = chat.forward_body()
        body["max_tokens"] = chat.max_completion_tokens or chat.max_tokens or self.config.default_max_tokens
        body.pop("max_completion_tokens", None)
        return body

    async def _slot(self, headers: dict):
        config, slots = self.config, self.state["slots"]
        if not slots.locked():  # a free slot: taken at once, no timer to arm
            await slots.acquire()
            return None
        try:
            await within(slots.acquire(), config.queue_timeout_s)
        except asyncio.TimeoutError:
            return error_response(503, f"all {config.max_concurrency} model slots busy for {config.queue_timeout_s}s; "
                                  "retry later", "server_error", "overloaded", headers={**headers, "Retry-After": "1"})
        return None

    @staticmethod
    def _upstream_error(exc: UpstreamError, headers: dict):
        return error_response(exc.status, str(exc), "upstream_error" if exc.status >= 500 else "invalid_request_error",
                              headers=headers)

    async def forward(self, chat: ChatRequest, headers: dict):
        busy = await self._slot(headers)
        if busy is not None:
            return busy, "overloaded", None
        try:
            result = await self.state["model"].complete(self._body(chat), self.config.request_timeout_s)
        except UpstreamError as exc:
            return self._upstream_error(exc, headers), "upstream_error", None
        finally:
            self.state["slots"].release()
        result["model"] = self.served_name
        if self.monitor is None:
            return JSONResponse(result, headers=headers), "allowed", None
        verdict = await self.monitor.judge(question_of(chat), answers_of(result))
        headers = {**headers, "X-Tunewise-Monitor": verdict.status}
        if verdict.flagged and self.config.answer_monitor == "block":
            blocked = blocked_completion(result, self.config.answer_monitor_message, verdict, len(result["choices"]))
            return JSONResponse(blocked, headers=headers), "answer_blocked", verdict
        return JSONResponse(result, headers=headers), "allowed", verdict

    async def forward_stream(self, chat: ChatRequest, headers: dict):
        """The gate has allowed the request; open the upstream stream first, so a failing
        upstream is a plain 502/504 JSON error, then relay its events (model name rewritten).
        With the monitor in ``block`` mode the events are buffered and judged before any is sent."""
        busy = await self._slot(headers)
        if busy is not None:
            return busy, "overloaded", None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.state["slots"].release()

        try:
            upstream = await self.state["model"].open_stream(self._body(chat), self.config.request_timeout_s)
        except UpstreamError as exc:
            release()
            return self._upstream_error(exc, headers), "upstream_error", None
        except BaseException:
            release()
            raise
        if self.monitor is not None and self.config.answer_monitor == "block":
            try:
                return await self._buffered(chat, upstream, headers)
            finally:
                await upstream.aclose()
                release()
        verdict_future = None
        if self.monitor is not None:
            verdict_future = asyncio.get_running_loop().create_future()
            headers = {**headers, "X-Tunewise-Monitor": "deferred"}
        seen: list[dict] = []
        judging = []  # set once the verdict is on its way, so it is started exactly once

        def judge_once() -> None:
            if verdict_future is not None and not judging:
                judging.append(True)
                asyncio.get_running_loop().create_task(self._judge_later(chat, seen, verdict_future))

        async def relay():
            try:
                async for event in upstream.events():
                    event["model"] = self.served_name
                    if verdict_future is not None:
                        seen.append(event)
                    yield sse(event)
                yield sse("[DONE]")
            except UpstreamError as exc:  # mid-stream: the openai client raises APIError on an error event
                yield sse({"error": {"message": str(exc), "type": "upstream_error", "code": "upstream_error",
                                     "param": None}})
            finally:
                await upstream.aclose()
                release()
                judge_once()

        async def cleanup() -> None:  # also runs when the client left before the stream started
            await upstream.aclose()
            release()
            judge_once()

        return StreamingResponse(relay(), media_type="text/event-stream", headers=headers,
                                 background=BackgroundTask(cleanup)), "allowed", verdict_future

    async def _judge_later(self, chat: ChatRequest, events: list[dict], future: asyncio.Future) -> None:
        verdict = await self.monitor.judge(question_of(chat), answers_of_chunks(events)) if events else None
        if not future.done():
            future.set_result(verdict)

    async def _buffered(self, chat: ChatRequest, upstream, headers: dict):
        """Block mode for a stream: read the whole answer, judge it, then send it or a refusal."""
        events: list[dict] = []
        try:
            async for event in upstream.events():
                event["model"] = self.served_name
                events.append(event)
        except UpstreamError as exc:  # nothing sent yet, so a failure is a plain error, not a broken stream
            return self._upstream_error(exc, headers), "upstream_error", None
        verdict = await self.monitor.judge(question_of(chat), answers_of_chunks(events))
        headers = {**headers, "X-Tunewise-Monitor": verdict.status}
        if verdict.flagged:
            first = events[0] if events else {}
            completion = {"id": first.get("id"), "created": first.get("created"), "model": self.served_name,
                          "choices": [{}] * max(1, len(answers_of_chunks(events)))}
            blocked = blocked_completion(completion, self.config.answer_monitor_message, verdict,
                                         len(completion["choices"]))
            return _stream_of(blocked, "tunewise_monitor", headers), "answer_blocked", verdict
        body = [sse(event) for event in events] + [sse("[DONE]")]
        return StreamingResponse(iter(body), media_type="text/event-stream", headers=headers), "allowed", verdict


def _stream_of(completion: dict, extra_key: str, headers: dict) -> StreamingResponse:
    """A finished completion as a well-formed event stream; its last chunk carries ``extra_key``."""
    chunks = completion_chunks(completion)
    chunks[-1][extra_key] = completion[extra_key]
    return StreamingResponse(iter([*(sse(c) for c in chunks), sse("[DONE]")]), media_type="text/event-stream",
                             headers=headers)


__all__ = ["Forwarder", "MonitorVerdict"]
