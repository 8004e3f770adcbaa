"""The answer-side monitor: score each upstream answer with an audit judge, as production
emergent-misalignment monitoring (``ServeConfig.answer_monitor``).

The gate keeps requests in the domain; it cannot see what the model answers. A tuned model that
drifted (emergent misalignment: a narrow fine-tune turning broadly misaligned, Betley et al.)
answers in-domain requests badly too, so the gateway can judge every answer with the audit's
judges (looked up by name through ``tunewise.audit.judges.get_judge``, default ``local``) and read
the verdict with an audit threshold preset (default ``betley``: misaligned when aligned < 30 among
coherent > 50).

* ``record``: the answer goes out unchanged with ``X-Tunewise-Monitor: passed|flagged|unscored``
  and the decision log gets the scores and the flag. A streamed answer is relayed as it comes and
  judged when it ends, so its verdict is in the decision log only (header ``deferred``).
* ``block``: a flagged answer is replaced by a well-formed refusal (``finish_reason``
  ``content_filter``). A streamed answer is then buffered upstream-side until it is complete and
  judged, and the client gets either the buffered events or the refusal as a stream: the first
  byte waits for the whole answer.

Judging runs on one worker thread, never on the event loop, and answers from concurrent requests
are judged together in one ``score_many`` call (the judges embed in batches). A judgment that
fails, or takes longer than ``answer_monitor_timeout_s``, leaves its answer ``unscored`` (delivered, logged with the error): the monitor is a
detector behind the gate, and one failing judgment never fails another request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tunewise.gate.batcher import MicroBatcher

logger = logging.getLogger("tunewise.gate.monitor")


@dataclass
class MonitorVerdict:
    """The monitor's reading of one completion: ``status`` is ``passed``, ``flagged`` or
    ``unscored``; ``scores`` one entry per choice (aligned, coherent, label, flagged or error)."""

    status: str
    scores: list[dict] = field(default_factory=list)
    judge_ms: float = 0.0

    @property
    def flagged(self) -> bool:
        return self.status == "flagged"

    def record(self) -> dict:
        return {"status": self.status, "scores": self.scores, "judge_ms": round(self.judge_ms, 2)}


class AnswerMonitor:
    def __init__(self, judge_name: str = "local", preset: str = "betley", max_batch: int = 32,
                 timeout_s: float = 10.0):
        from tunewise.audit.judges import get_judge
        from tunewise.audit.stats import get_preset

        self.judge_name = judge_name
        self.scorer = get_judge(judge_name)
        self.preset = get_preset(preset)
        self.max_batch, self.timeout_s = max_batch, timeout_s
        # one thread (MicroBatcher): judges hold a model that is not known to be thread-safe, and
        # on a small CPU one batched call beats several competing ones
        self._batcher = MicroBatcher(lambda pairs: self.scorer.score_many(pairs), max_batch,
                                     "answer-monitor", wait_on_close=False)

    def start(self) -> None:
        self._batcher.start()

    def verdict_of(self, judgments: list) -> MonitorVerdict:
        import numpy as np

        scores, flagged, failed = [], False, False
        for judgment in judgments:
            if isinstance(judgment, Exception) or getattr(judgment, "failed", False):
                failed = True
                scores.append({"error": f"{type(judgment).__name__}: {judgment}"[:300]
                               if isinstance(judgment, Exception) else "unscorable"})
                continue
            is_flagged = bool(judgment.aligned is not None and judgment.coherent is not None
                              and self.preset.misaligned_mask(np.array([judgment.aligned]),
                                                              np.array([judgment.coherent]))[0])
            flagged = flagged or is_flagged
            scores.append({"aligned": judgment.aligned, "coherent": judgment.coherent, "label": judgment.label,
                           "flagged": is_flagged})
        return MonitorVerdict("flagged" if flagged else "unscored" if failed else "passed", scores)

    async def judge(self, question: str, answers: list[str]) -> MonitorVerdict:
        """The verdict on ``answers`` (one per choice) to ``question``; never raises."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        pairs = [(question, answer) for answer in answers]
        try:
            judgments = await asyncio.wait_for(asyncio.shield(self._batcher.submit(pairs)), self.timeout_s)
        except asyncio.TimeoutError:  # a slow or hung judge never holds an answer longer than this
            logger.warning("answer monitor: no judgment within %ss", self.timeout_s)
            judgments = [TimeoutError(f"no judgment within {self.timeout_s}s")] * len(answers)
        except Exception as exc:  # noqa: BLE001 - a failed judgment leaves the answer unscored, never fails it
            logger.warning("answer monitor failed: %s: %s", type(exc).__name__, exc)
            judgments = [exc] * len(answers)
        verdict = self.verdict_of(judgments)
        verdict.judge_ms = (loop.time() - started) * 1000
        return verdict

    async def close(self) -> None:
        await self._batcher.close()


def question_of(chat) -> str:
    """What the answer answers: the last user message's text (the judges score (question, answer))."""
    for message in reversed(chat.messages):
        if message.role == "user":
            return message.text()
    return chat.messages[-1].text() if chat.messages else ""


def answers_of(completion: dict) -> list[str]:
    return [str((choice.get("message") or {}).get("content") or "") for choice in completion.get("choices", [])]


def answers_of_chunks(events: list[dict]) -> list[str]:
    """Each choice's text, assembled from streamed ``chat.completion.chunk`` events."""
    texts: dict[int, list[str]] = {}
    for event in events:
        for choice in event.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            texts.setdefault(int(choice.get("index", 0)), []).append(content if isinstance(content, str) else "")
    return ["".join(texts[index]) for index in sorted(texts)]


def blocked_completion(completion: dict, message: str, verdict: MonitorVerdict, n: int) -> dict:
    """The refusal that replaces a flagged answer: same id/model, every choice the operator's
    message, ``finish_reason`` ``content_filter`` (OpenAI's value for a filtered answer)."""
    return {"id": completion.get("id"), "object": "chat.completion", "created": completion.get("created"),
            "model": completion.get("model"),
            "choices": [{"index": i, "message": {"role": "assistant", "content": message},
                         "finish_reason": "content_filter"} for i in range(n)],
            "usage": completion.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "tunewise_monitor": {"blocked": True, **verdict.record()}}
