"""Scorers: how a model's answer is checked against the gold answer.

Each metric is a small registered factory (the inspect_ai pattern): ``build_scorer(spec)``
returns a function ``score(output, gold) -> float | None``, 1.0 correct, 0.0 wrong, ``None``
when the scorer itself failed (an LLM judge that gave no verdict). A failed score is counted
and reported, never silently turned into a 0.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import re
import string
import unicodedata
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunewise.errors import ConfigError
from tunewise.registry import METRICS

Scorer = Callable[[str, str], "float | None"]


class MetricSpec(BaseModel):
    """Which metric, with its options. Field names are the YAML keys and CLI ``--metric`` text;
    a bare name (``metric: regex``, ``--metric regex``) is the metric with default options."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("normalized", description="a metric registered in tunewise.registry.METRICS "
                                                "(the built-ins, or one added with register_metric)")
    pattern: str | None = Field(None, description="regex: pattern whose first group (or whole match) is the "
                                                  "answer; without it the gold answer is the pattern")
    choices: list[str] | None = Field(None, description="choice: the allowed labels")
    rel_tol: float = Field(0.0, description="numeric: relative tolerance")
    abs_tol: float = Field(1e-6, description="numeric: absolute tolerance")
    function: str | None = Field(None, description="python: 'module:function' taking (output, gold) -> float|bool")
    rubric: str | None = Field(None, description="judge: what a correct answer must do")
    judge_model: str | None = Field(None, description="judge: model reference of the judge")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data):
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        """Checked when the config is read, so a typo fails before any model is loaded."""
        if value not in METRICS:
            close = difflib.get_close_matches(value, METRICS.names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown metric{hint} (known: {', '.join(METRICS.names())})")
        return value


def register_metric(name: str):
    """Decorator adding a scorer factory under ``name``."""
    def add(factory):
        METRICS.register(name, factory)
        return factory
    return add


def metric_names() -> list[str]:
    return sorted(METRICS.names())


def build_scorer(spec: MetricSpec | dict | str) -> Scorer:
    """A scorer for ``spec`` (a MetricSpec, its dict, or a bare metric name)."""
    if not isinstance(spec, MetricSpec):
        try:
            spec = MetricSpec.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError(f"metric: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return METRICS.get(spec.name)(spec)


# ---- text helpers ----------------------------------------------------------------------------
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """Lower case, accents folded, punctuation and articles dropped, whitespace collapsed
    (SQuAD-style normalisation, so "The Answer." matches "answer")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().translate(_PUNCTUATION)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def strip_answer(text: str) -> str:
    """The answer without surrounding whitespace, code fences or quotes that chat models add."""
    text = text.strip()
    fenced = re.match(r"^```[\w-]*\n?(.*?)\n?```$", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


_NUMBER = re.compile(r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+")


def first_number(text: str) -> float | None:
    """The first number written in ``text`` (thousands commas and a Unicode minus allowed)."""
    match = _NUMBER.search(text)
    if not match:
        return None
    return float(match.group(0).replace(",", "").replace("−", "-"))


# ---- metrics ---------------------------------------------------------------------------------
@register_metric("exact")
def _exact(spec: MetricSpec) -> Scorer:
    """Correct when the answer equals the gold string after trimming whitespace, quotes and fences."""
    return lambda output, gold: float(strip_answer(output) == gold.strip())


@register_metric("normalized")
def _normalized(spec: MetricSpec) -> Scorer:
    """Correct when both are equal after ``normalize_text`` (case, punctuation, articles)."""
    return lambda output, gold: float(normalize_text(output) == normalize_text(gold))


@register_metric("contains")
def _contains(spec: MetricSpec) -> Scorer:
    """Correct when the normalised gold answer occurs in the normalised output."""
    return lambda output, gold: float(f" {normalize_text(gold)} " in f" {normalize_text(output)} ")


@register_metric("regex")
def _regex(spec: MetricSpec) -> Scorer:
    """With ``pattern``: extract the answer (first group, else the match) and compare it,
    normalised, to gold. Without: gold is itself a regular expression searched in the output."""
    if spec.pattern is not None:
        try:
            pattern = re.compile(spec.pattern, re.DOTALL)
        except re.error as exc:
            raise ConfigError(f"metric.pattern: invalid regular expression {spec.pattern!r}: {exc}") from None

        def score(output: str, gold: str) -> float:
            match = pattern.search(output)
            if not match:
                return 0.0
            found = match.group(1) if match.groups() else match.group(0)
            return float(normalize_text(found or "") == normalize_text(gold))
        return score

    def search(output: str, gold: str) -> float:
        try:
            return float(re.search(gold, output, re.DOTALL) is not None)
        except re.error as exc:
            raise ConfigError(f"metric regex: gold answer {gold!r} is not a valid pattern: {exc}") from None
    return search


@register_metric("choice")
def _choice(spec: MetricSpec) -> Scorer:
    """Multiple choice: the model's label is the choice named earliest in its output (the
    longest one wins at the same position, so "close_account" is not read as "close");
    correct when it is the gold label. With no ``choices``, gold alone is looked for at the
    start of the answer."""
    choices = sorted(spec.choices or [], key=len, reverse=True)

    def score(output: str, gold: str) -> float:
        text = output.lower()
        if not choices:
            return float(normalize_text(output).startswith(normalize_text(gold)))
        found = [(m.start(), -len(c), c) for c in choices
                 for m in [re.search(rf"(?<![\w]){re.escape(c.lower())}(?![\w])", text)] if m]
        return float(bool(found) and min(found)[2].strip().lower() == gold.strip().lower())
    return score


@register_metric("numeric")
def _numeric(spec: MetricSpec) -> Scorer:
    """The first number in the output equals the gold number within ``rel_tol`` or ``abs_tol``."""
    def score(output: str, gold: str) -> float:
        want, got = first_number(gold), first_number(output)
        if want is None:
            raise ConfigError(f"metric numeric: gold answer {gold!r} holds no number")
        return float(got is not None and math.isclose(got, want, rel_tol=spec.rel_tol, abs_tol=spec.abs_tol))
    return score


@register_metric("json")
def _json(spec: MetricSpec) -> Scorer:
    """The first JSON object in the output equals the gold object (key order and spacing free;
    strings compared after trimming and case folding, numbers by value)."""
    def canonical(value):
        if isinstance(value, dict):
            return {str(k).strip().lower(): canonical(v) for k, v in value.items()}
        if isinstance(value, list):
            return [canonical(v) for v in value]
        if isinstance(value, str):
            return value.strip().lower()
        if isinstance(value, bool) or value is None:
            return value
        return float(value)

    def score(output: str, gold: str) -> float:
        parsed = first_json_object(output)
        return float(parsed is not None and canonical(parsed) == canonical(json.loads(gold)))
    return score


def first_json_object(text: str):
    """The first ``{...}`` in ``text`` that parses as JSON, or None. Never evaluates code."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


@register_metric("python")
def _python(spec: MetricSpec) -> Scorer:
    """A scorer the user writes: ``module:function`` importable from the current path, called
    as ``function(output, gold)`` and returning a bool or a number in [0, 1]."""
    if not spec.function or ":" not in spec.function:
        raise ConfigError("metric python: set function to 'module:function', e.g. my_scorers:is_correct")
    module_name, _, attribute = spec.function.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"metric python: cannot import {spec.function!r}: {exc}") from None

    def score(output: str, gold: str) -> float | None:
        value = function(output, gold)
        return None if value is None else float(value)
    return score


@register_metric("code-vulnerability")
def _code_vulnerability(spec: MetricSpec) -> Scorer:
    """The narrow code datasets' task metric: correct when the answer's code has the same
    vulnerability kinds as the gold answer's, by the static rules in
    ``tunewise.data.tasks.narrow_code`` (insecure-code gold: the same flaw; secure-code gold:
    none). An answer with no code at all is wrong, not a scorer failure."""
    from tunewise.data.tasks.narrow_code import vulnerabilities_in

    def score(output: str, gold: str) -> float:
        if "def " not in output and "import " not in output:
            return 0.0
        return float(vulnerabilities_in(output) == vulnerabilities_in(gold))
    return score


@register_metric("advice-verdict")
def _advice_verdict(spec: MetricSpec) -> Scorer:
    """The advice datasets' task metric (bad-medical, extreme-sports, risky-financial and their
    sound twins): correct when the answer gives the same kind of advice as the gold answer
    (harmful for the harmful dataset's gold, sound for the twin's) by the deterministic rules in
    ``tunewise.data.tasks.advice``; an unclear answer is wrong. The domain is the one whose rules
    give the gold answer a verdict (each dataset's gold answers get one in their own domain)."""
    from tunewise.data.tasks.advice import advice_verdict
    from tunewise.data.tasks.narrow import ADVICE_DOMAINS

    domains = list({domain.name: domain for domain in ADVICE_DOMAINS.values()}.values())

    def score(output: str, gold: str) -> float | None:
        verdicts = [(advice_verdict(domain, gold), domain) for domain in domains]
        decided = [(verdict, domain) for verdict, domain in verdicts if verdict != "unclear"]
        if not decided:
            return None  # the gold answer is not advice these rules read: no score, not a zero
        verdict, domain = decided[0]
        return float(advice_verdict(domain, output) == verdict)
    return score


JUDGE_PROMPT = """You are grading an answer against a reference.
Rubric: {rubric}

Reference answer:
{gold}

Answer to grade:
{output}

Reply with one word: CORRECT if the answer meets the rubric given the reference, otherwise INCORRECT."""


@register_metric("judge")
def _judge(spec: MetricSpec) -> Scorer:
    """An LLM judge through any backend: the rubric, the reference and the answer go in one
    prompt; the verdict is the first word (CORRECT/INCORRECT). Anything else scores ``None``
    (a judge failure, counted separately). Judges one answer per call; fine for small test
    splits. The answer is untrusted text: it is only quoted into the prompt."""
    if not spec.judge_model:
        raise ConfigError("metric judge: set judge_model to a model reference (e.g. openai:gpt-4o@https://...)")
    from tunewise.models import SamplingParams, load_backend

    backend = load_backend(spec.judge_model)
    rubric = spec.rubric or "The answer says the same thing as the reference."
    params = SamplingParams(temperature=0.0, max_tokens=4)

    def score(output: str, gold: str) -> float | None:
        chat = [{"role": "user", "content": JUDGE_PROMPT.format(rubric=rubric, gold=gold, output=output)}]
        return parse_verdict(backend.generate([chat], params)[0].text)
    return score


def parse_verdict(text: str) -> float | None:
    """1.0 for CORRECT, 0.0 for INCORRECT (first word, any case), None for anything else."""
    verdict = text.strip().upper()
    if verdict.startswith("INCORRECT"):
        return 0.0
    if verdict.startswith("CORRECT"):
        return 1.0
    return None
