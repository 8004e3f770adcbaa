"""Micro-batching of gate decisions across concurrent requests.

Embedding one text costs ~10-20 ms on this CPU, mostly fixed overhead; 32 texts cost far less
than 32 times that. Requests that arrive while a batch is being embedded wait for the next
one, so under load the gate embeds many requests in one call, and alone a request waits for
nothing. A batch that fails is re-scored request by request, so one bad request fails alone.
The model work runs on one dedicated thread: the event loop stays free to accept and
answer requests, and torch gets both cores for one batch instead of contention between many.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tunewise.gate.gate import DomainGate, GateDecision


class GateBatcher:
    def __init__(self, gate: DomainGate, max_batch_texts: int = 64):
        self.gate = gate
        self.max_batch_texts = max_batch_texts
        self._pending: list[tuple[list[str], asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate")

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def decide(self, texts: list[str]) -> list[GateDecision]:
        """Verdicts for ``texts`` (one request's messages), batched with other requests."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((texts, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, size = [], 0
                while self._pending and (not batch or size + len(self._pending[0][0]) <= self.max_batch_texts):
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                texts = [text for request_texts, _ in batch for text in request_texts]
                try:
                    decisions = await loop.run_in_executor(self._executor, self.gate.decide, texts)
                except Exception as exc:  # a broken gate fails its requests, never the worker
                    if len(batch) == 1:
                        if not batch[0][1].done():
                            batch[0][1].set_exception(exc)
                        continue
                    # one request's text broke the batch (the server validates text first, so this
                    # is a defence in depth): score each request alone, so only that one fails
                    for request_texts, future in batch:
                        try:
                            alone = await loop.run_in_executor(self._executor, self.gate.decide, request_texts)
                        except Exception as alone_exc:
                            if not future.done():
                                future.set_exception(alone_exc)
                        else:
                            if not future.done():
                                future.set_result(alone)
                    continue
                offset = 0
                for request_texts, future in batch:
                    if not future.done():
                        future.set_result(decisions[offset:offset + len(request_texts)])
                    offset += len(request_texts)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)
