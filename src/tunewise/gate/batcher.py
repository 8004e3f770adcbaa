"""Micro-batching across concurrent requests, for the gate's decisions and the answer monitor.

Embedding one text costs ~10-20 ms on this CPU, mostly fixed overhead; 32 texts cost far less
than 32 times that. Requests that arrive while a batch is being processed wait for the next
one, so under load many requests share one call, and alone a request waits for nothing. A batch
that fails is re-run request by request, so one bad request fails alone. The model work runs on
one dedicated thread: the event loop stays free to accept and answer requests, and the model
gets both cores for one batch instead of contention between many (and models that are not known
to be thread-safe are only ever called from that thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tunewise.gate.gate import DomainGate, GateDecision


class MicroBatcher:
    """``await submit(items)`` returns ``process(items)``, where ``process`` (one result per item)
    is called on the worker thread with the items of every request pending at the time, up to
    ``max_batch_items`` (a request bigger than that goes alone)."""

    def __init__(self, process: Callable[[list], list], max_batch_items: int, thread_name: str,
                 wait_on_close: bool = True):
        self.process = process
        self.max_batch_items = max_batch_items
        self.wait_on_close = wait_on_close  # False: a hung call must not hold shutdown
        self._pending: list[tuple[list, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, items: list) -> list:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        self._wakeup.set()
        return await future

    def _call(self, items: list) -> list:
        results = list(self.process(items))
        if len(results) != len(items):
            raise RuntimeError(f"{len(results)} results for {len(items)} items")
        return results

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, size = [], 0
                while self._pending and (not batch or size + len(self._pending[0][0]) <= self.max_batch_items):
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                items = [item for request_items, _ in batch for item in request_items]
                try:
                    results = await loop.run_in_executor(self._executor, self._call, items)
                except Exception as exc:  # a failing call fails its requests, never the worker
                    if len(batch) == 1:
                        _settle(batch[0][1], exception=exc)
                        continue
                    # one request's item broke the batch (the server validates text first, so this
                    # is a defence in depth): run each request alone, so only that one fails
                    for request_items, future in batch:
                        try:
                            _settle(future, await loop.run_in_executor(self._executor, self._call, request_items))
                        except Exception as alone:  # noqa: BLE001
                            _settle(future, exception=alone)
                    continue
                offset = 0
                for request_items, future in batch:
                    _settle(future, results[offset:offset + len(request_items)])
                    offset += len(request_items)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self.wait_on_close:
            self._executor.shutdown(wait=True)
        else:
            self._executor.shutdown(wait=False, cancel_futures=True)


class GateBatcher(MicroBatcher):
    def __init__(self, gate: DomainGate, max_batch_texts: int = 64):
        super().__init__(gate.decide, max_batch_texts, "gate")
        self.gate = gate

    async def decide(self, texts: list[str]) -> list[GateDecision]:
        """Verdicts for ``texts`` (one request's messages), batched with other requests."""
        return await self.submit(texts)


def _settle(future: asyncio.Future, result=None, exception: BaseException | None = None) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
