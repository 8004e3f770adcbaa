"""The ``llm`` judge: rubric prompts to any backend with logprobs, scores read from probabilities.

Two ways to read a 0-100 number from the judge's first answer token:
- ``top_logprobs``: the top-20 next tokens, probability-weighted mean of those that are integers
  0-100 (the standard EM judge; right when numbers are single tokens, as with OpenAI models and
  any ``openai:`` or vLLM backend serving such a model);
- ``digit_chain`` (hf backend only): when the tokenizer writes numbers one digit per token
  (Qwen), the distribution over 0-100 is rebuilt from chained digit probabilities (one prompt
  forward pass plus one batched two-token step over a copy of the KV cache).
``auto`` picks ``digit_chain`` when the backend is in-process and "42" is two tokens.
"""

from __future__ import annotations

import json
import math

from tunewise.audit.judges import JudgeError, Judgment, register_judge, score_each
from tunewise.audit.judges.rubrics import alignment_chat, coherence_chat
from tunewise.audit.judges.scoring import (MIN_NUMBER_MASS, NumberScore, digit_chain_distribution,
                                           score_from_distribution, unscorable_label, weighted_number_score)
from tunewise.errors import ConfigError
from tunewise.models.types import Backend, Chat

TOP_K = 20


class LLMJudge:
    def __init__(self, backend: Backend, scoring: str = "auto", min_mass: float = MIN_NUMBER_MASS):
        if scoring not in ("auto", "top_logprobs", "digit_chain"):
            raise ConfigError(f"llm judge scoring must be auto, top_logprobs or digit_chain, not {scoring!r}")
        self.backend = backend
        self.name = f"llm:{backend.model_ref}"
        self.rubrics: dict[str, dict] = {}  # question -> {aligned, coherent} prompt texts of its probe set
        self.min_mass = min_mass
        self.scoring = _auto_scoring(backend) if scoring == "auto" else scoring
        if self.scoring == "digit_chain" and not hasattr(backend, "model"):
            raise ConfigError(f"digit_chain scoring needs an in-process (hf) backend; {backend.model_ref} has none")

    def fingerprint(self) -> dict:
        """The rubric prompts and the way numbers are read; the judge model is named by its ref
        (an API model's weights cannot be hashed from here)."""
        import hashlib

        from tunewise.audit.judges import rubrics

        own = json.dumps(self.rubrics, sort_keys=True, ensure_ascii=False)
        text = "\x00".join([rubrics.ALIGNMENT, rubrics.COHERENCE, self.scoring, str(self.min_mass), own])
        return {"weights_sha256": None, "rubric_sha256": hashlib.sha256(text.encode()).hexdigest()}

    def read_number(self, chat: Chat) -> tuple[NumberScore, dict[str, float]]:
        """The judge's number for one prompt and the top-20 first tokens it was read from."""
        if self.scoring == "digit_chain":
            return _digit_chain_score(self.backend, chat, self.min_mass)
        try:
            top = self.backend.top_logprobs([chat], k=TOP_K)[0]
        except Exception as exc:  # any backend failure on one answer is that answer's failure
            raise JudgeError(f"{self.name}: could not get logprobs: {exc}") from exc
        return weighted_number_score(top, self.min_mass), top

    def with_rubrics(self, by_question: dict[str, dict]) -> "LLMJudge":
        """This judge using a probe set's own prompts (Betley's ``judge_prompts``: ``{question}``
        and ``{answer}`` slots) for the questions that have them, ours for the rest. The prompts
        are part of the fingerprint, so answers judged under other prompts are judged again."""
        import copy

        judge = copy.copy(self)
        judge.rubrics = {**self.rubrics, **by_question}
        return judge

    def _chats(self, question: str, answer: str) -> tuple[Chat, Chat]:
        own = self.rubrics.get(question)
        if not own:
            return alignment_chat(question, answer), coherence_chat(question, answer)
        # str.replace, not str.format: the prompt texts are the user's file and may hold other braces.
        fill = {key: own[key].replace("{question}", question).replace("{answer}", answer)
                for key in ("aligned", "coherent")}
        return [{"role": "user", "content": fill["aligned"]}], [{"role": "user", "content": fill["coherent"]}]

    def score(self, question: str, answer: str) -> Judgment:
        aligned_chat, coherent_chat = self._chats(question, answer)
        aligned, top_aligned = self.read_number(aligned_chat)
        coherent, top_coherent = self.read_number(coherent_chat)
        raw = {"scoring": self.scoring, "aligned_mass": aligned.mass, "coherent_mass": coherent.mass,
               "aligned_top": _rounded(top_aligned), "coherent_top": _rounded(top_coherent)}
        label = "ok" if aligned.score is not None else unscorable_label(top_aligned)
        if label == "ok" and coherent.score is None:
            label = "unscorable"
        return Judgment(aligned=aligned.score, coherent=coherent.score, label=label, raw=raw)

    def score_many(self, pairs: list[tuple[str, str]]) -> list[Judgment | JudgeError]:
        return score_each(self, pairs)


def _rounded(top: dict[str, float]) -> dict[str, float]:
    return {token: round(logprob, 4) for token, logprob in top.items()}


def _single_digit_ids(tokenizer) -> list[int] | None:
    ids = [tokenizer(str(d), add_special_tokens=False)["input_ids"] for d in range(10)]
    return [i[0] for i in ids] if all(len(i) == 1 for i in ids) else None


def _auto_scoring(backend: Backend) -> str:
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None or not hasattr(backend, "model"):
        return "top_logprobs"
    splits_numbers = len(tokenizer("42", add_special_tokens=False)["input_ids"]) > 1
    return "digit_chain" if splits_numbers and _single_digit_ids(tokenizer) else "top_logprobs"


def _digit_chain_score(backend, chat: Chat, min_mass: float) -> tuple[NumberScore, dict[str, float]]:
    import torch

    digits = _single_digit_ids(backend.tokenizer)
    if digits is None:
        raise ConfigError(f"{backend.model_ref}: digits are not single tokens; use scoring='top_logprobs'")
    prompt = backend.encode(backend.render(chat))
    model = backend.model
    with torch.inference_mode():
        ids = torch.tensor([prompt], device=backend.device)
        out = model(input_ids=ids, use_cache=True)
        first_logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        cache = out.past_key_values
        cache.batch_repeat_interleave(10)
        # Row d continues the prompt with digit d then "0": position 0 gives P(second | d),
        # position 1 of row 1 gives P(third | "10").
        steps = torch.tensor([[digits[d], digits[0]] for d in range(10)], device=backend.device)
        mask = torch.ones(10, len(prompt) + 2, dtype=torch.long, device=backend.device)
        logits = model(input_ids=steps, attention_mask=mask, **{_cache_argument(model): cache}).logits.float()
        probs = torch.softmax(logits, dim=-1)
    first = first_logprobs.exp()[digits].tolist()
    second = [probs[d, 0, digits].tolist() for d in range(10)]
    third = float(probs[1, 1, digits[0]])
    score = score_from_distribution(digit_chain_distribution(first, second, third), min_mass)
    values, indices = first_logprobs.topk(TOP_K)
    top: dict[str, float] = {}
    for value, index in zip(values.tolist(), indices.tolist()):
        text = backend.tokenizer.decode([index])
        top[text] = float(math.log(math.exp(top[text]) + math.exp(value))) if text in top else value
    return score, top


def _cache_argument(model) -> str:
    """transformers 5.x renamed ``past_key_values`` to ``cache``; support both."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _build(argument: str, backend: Backend | None = None, **options) -> LLMJudge:
    if backend is None:
        if not argument:
            raise ConfigError("llm judge needs a model: 'llm:<model ref>', e.g. llm:packaged:qwen2.5-coder-0.5b-instruct")
        from tunewise.models import load_backend

        backend = load_backend(argument, **options.pop("backend_options", {}))
    return LLMJudge(backend, **options)


register_judge("llm", _build)
