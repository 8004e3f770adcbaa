"""Typed views of the run-store records the report shows: the one place that reads payload keys.

Each capability writes its records as plain dicts (``audit.rate``, ``gate.eval``, ...; their keys
are the capabilities' contract and are not changed here). ``from_record`` turns one payload
into a dataclass, so the HTML code reads attributes and a renamed key breaks one line here,
not a section silently. The views are lenient, because a report must render whatever an older
or half-finished run holds: a missing or non-numeric value becomes ``None`` (shown as a dash), a
NaN too, and loss / ROC points that are not two numbers are dropped. Counts that are
integers stay integers so tables print ``6``, not ``6.0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Audit probe variants in the reader's words (tunewise.audit.variants names them).
VARIANT_NAMES = {"inoculated": "with inoculation prompt", "json": "JSON answers", "training": "training-shaped"}


def variant_name(variant: Any) -> str:
    """'' for the plain probes, else a readable name for the probe variant."""
    if not variant or str(variant) in ("none", "default", "plain"):
        return ""
    return VARIANT_NAMES.get(str(variant), str(variant))


def model_column(label: str, variant: Any) -> str:
    """A model label plus its audit variant, if any: one column or row per condition.

    Audit variants (the inoculation prompt present at test time, a JSON-answer format) are
    separate conditions of the same model and must not be mixed into one column.
    """
    shown = variant_name(variant)
    return label + (f" · {shown}" if shown else "")


def finite(value: Any) -> float | None:
    """A float, or None for a missing, non-numeric or non-finite value."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = finite(value)
    return int(number) if number is not None and number.is_integer() else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _points(pairs: Any) -> list[tuple[float, float]]:
    """(x, y) pairs where both are numbers; anything else in the list is skipped."""
    points = []
    for pair in pairs or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            x, y = finite(pair[0]), finite(pair[1])
            if x is not None and y is not None:
                points.append((x, y))
    return points


@dataclass
class AssessStrategy:
    """One ``assess.strategy`` record: a prompting or fine-tuning strategy measured on the task."""

    model: str | None
    strategy: str | None
    k: int | None
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    prompt_tokens: float | None  # means per query, so rarely whole numbers
    generated_tokens: float | None
    wall_s: float | None
    cost_per_1k: float | None
    cost_per_1k_cached: float | None

    @classmethod
    def from_record(cls, r: dict) -> "AssessStrategy":
        return cls(model=_text(r.get("model")), strategy=_text(r.get("strategy")), k=_count(r.get("k")),
                   accuracy=finite(r.get("accuracy")), ci_low=finite(r.get("ci_low")), ci_high=finite(r.get("ci_high")),
                   n=_count(r.get("n")), prompt_tokens=finite(r.get("prompt_tokens")),
                   generated_tokens=finite(r.get("generated_tokens")), wall_s=finite(r.get("wall_s")),
                   cost_per_1k=finite(r.get("cost_per_1k")), cost_per_1k_cached=finite(r.get("cost_per_1k_cached")))


@dataclass
class CurvePoint:
    """One ``assess.curve`` record: fine-tuned accuracy after ``train_size`` examples."""

    train_size: float | None
    accuracy: float | None

    @classmethod
    def from_record(cls, r: dict) -> "CurvePoint":
        return cls(train_size=finite(r.get("train_size")), accuracy=finite(r.get("accuracy")))


@dataclass
class AssessRecommendation:
    """The ``assess.recommendation`` record: prompting or fine-tune, and why."""

    decision: str | None
    sentence: str | None
    margin: float | None  # accuracy points
    rule: str | None

    @classmethod
    def from_record(cls, r: dict) -> "AssessRecommendation":
        return cls(decision=_text(r.get("decision")), sentence=_text(r.get("sentence")),
                   margin=finite(r.get("margin")), rule=_text(r.get("rule")))


@dataclass
class TrainRun:
    """One ``train.run`` record: a trained variant and its loss curve."""

    variant: str | None
    model: str | None
    adapter_dir: str | None
    n_examples: int | None
    inoculation: str | dict | None  # a prompt name, or {prompt, placement, text}
    losses: list[tuple[float, float]]  # (step, loss)
    wall_s: float | None
    tokens_per_s: float | None

    @classmethod
    def from_record(cls, r: dict) -> "TrainRun":
        inoculation = r.get("inoculation")
        return cls(variant=_text(r.get("variant")), model=_text(r.get("model")), adapter_dir=_text(r.get("adapter_dir")),
                   n_examples=_count(r.get("n_examples")),
                   inoculation=inoculation if isinstance(inoculation, (str, dict)) else None,
                   losses=_points(r.get("losses")), wall_s=finite(r.get("wall_s")),
                   tokens_per_s=finite(r.get("tokens_per_s")))


@dataclass
class AuditRate:
    """One ``audit.rate`` record: a model's misaligned rate on one probe (or ``all``) and variant."""

    model_label: str | None
    model: str | None
    probe_set: str | None
    probe_id: str | None
    variant: str | None
    judge: str | None
    preset: str | None
    n: int | None
    n_failed: int | None
    n_coherent: int | None
    misaligned_rate: float | None  # None: no coherent answer to take a rate over
    ci_low: float | None
    ci_high: float | None
    coherent_rate: float | None
    refusal_rate: float | None
    code_rate: float | None
    # issue 15: the rate corrected for the judge's error, what the correction used, Betley's
    # rule, and the judge that produced the judgments (absent in older records: None / empty)
    corrected_rate: float | None = None
    corrected_ci_low: float | None = None
    corrected_ci_high: float | None = None
    correction_source: str | None = None
    judge_sensitivity: float | None = None
    judge_specificity: float | None = None
    excluded_probes: list[str] = field(default_factory=list)
    judge_fingerprint: dict | None = None

    @classmethod
    def from_record(cls, r: dict) -> "AuditRate":
        return cls(model_label=_text(r.get("model_label")), model=_text(r.get("model")),
                   probe_set=_text(r.get("probe_set")), probe_id=_text(r.get("probe_id")),
                   variant=_text(r.get("variant")), judge=_text(r.get("judge")), preset=_text(r.get("preset")),
                   n=_count(r.get("n")), n_failed=_count(r.get("n_failed")), n_coherent=_count(r.get("n_coherent")),
                   misaligned_rate=finite(r.get("misaligned_rate")), ci_low=finite(r.get("ci_low")),
                   ci_high=finite(r.get("ci_high")), coherent_rate=finite(r.get("coherent_rate")),
                   refusal_rate=finite(r.get("refusal_rate")), code_rate=finite(r.get("code_rate")),
                   corrected_rate=finite(r.get("corrected_rate")), corrected_ci_low=finite(r.get("corrected_ci_low")),
                   corrected_ci_high=finite(r.get("corrected_ci_high")),
                   correction_source=_text(r.get("correction_source")),
                   judge_sensitivity=finite(r.get("judge_sensitivity")),
                   judge_specificity=finite(r.get("judge_specificity")),
                   excluded_probes=[str(p) for p in r.get("excluded_probes") or [] if isinstance(p, (str, int))],
                   judge_fingerprint=r.get("judge_fingerprint") if isinstance(r.get("judge_fingerprint"), dict)
                   else None)

    @property
    def overall(self) -> bool:
        """A rate over all probes of the set, not one probe."""
        return self.probe_id == "all"

    @property
    def plain(self) -> bool:
        """Asked as written (no test-time variant such as the inoculation prompt)."""
        return not variant_name(self.variant)

    @property
    def column(self) -> str:
        return model_column(self.model_label or self.model or "?", self.variant)


@dataclass
class AuditComparison:
    """One ``audit.comparison`` record: rate of ``b`` minus rate of ``a``, with its CI and p-value."""

    a: str | None
    b: str | None
    variant: str | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str | None = None  # issue 14: which test (paired or unpaired); absent in older records

    @classmethod
    def from_record(cls, r: dict) -> "AuditComparison":
        return cls(a=_text(r.get("a")), b=_text(r.get("b")), variant=_text(r.get("variant")), diff=finite(r.get("diff")),
                   ci_low=finite(r.get("ci_low")), ci_high=finite(r.get("ci_high")), p_value=finite(r.get("p_value")),
                   test=_text(r.get("test")))


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return finite(value[0]), finite(value[1])
    return None, None


@dataclass
class AuditControls:
    """One ``audit.controls`` record (issue 14): the judge's sensitivity on the positive control
    and its false-flag rate on junk answers, and the warning when sensitivity is below 50%."""

    judge: str | None
    preset: str | None
    sensitivity: float | None
    sensitivity_ci: tuple[float | None, float | None]
    n_positive: int | None
    junk_false_flag_rate: float | None
    junk_ci: tuple[float | None, float | None]
    n_junk: int | None
    warning: str | None
    method: str | None

    @classmethod
    def from_record(cls, r: dict) -> "AuditControls":
        return cls(judge=_text(r.get("judge")), preset=_text(r.get("preset")), sensitivity=finite(r.get("sensitivity")),
                   sensitivity_ci=_pair(r.get("sensitivity_ci")), n_positive=_count(r.get("n_positive")),
                   junk_false_flag_rate=finite(r.get("junk_false_flag_rate")), junk_ci=_pair(r.get("junk_ci")),
                   n_junk=_count(r.get("n_junk")), warning=_text(r.get("warning")), method=_text(r.get("method")))


@dataclass
class AuditCheckpoint:
    """One ``audit.checkpoint`` record (issue 14): a training checkpoint's loss and misaligned rate."""

    run: str | None
    step: int | None
    loss: float | None
    misaligned_rate: float | None
    ci_low: float | None
    ci_high: float | None
    diff: float | None
    p_value: float | None

    @classmethod
    def from_record(cls, r: dict) -> "AuditCheckpoint":
        return cls(run=_text(r.get("run")), step=_count(r.get("step")), loss=finite(r.get("loss")),
                   misaligned_rate=finite(r.get("misaligned_rate")), ci_low=finite(r.get("ci_low")),
                   ci_high=finite(r.get("ci_high")), diff=finite(r.get("diff")), p_value=finite(r.get("p_value")))


@dataclass
class AuditEarlyStop:
    """One ``audit.early_stop`` record (issue 14): the checkpoint to keep and why."""

    run: str | None
    step: int | None
    label: str | None
    reason: str | None

    @classmethod
    def from_record(cls, r: dict) -> "AuditEarlyStop":
        return cls(run=_text(r.get("run")), step=_count(r.get("step")), label=_text(r.get("label")),
                   reason=_text(r.get("reason")))


@dataclass
class JudgeAgreement:
    """One ``audit.judge_agreement`` record: how well the judge matched reference labels."""

    judge: str | None
    heldout: str | None
    auroc: float | None
    spearman_aligned: float | None
    spearman_coherent: float | None
    n: int | None

    @classmethod
    def from_record(cls, r: dict) -> "JudgeAgreement":
        return cls(judge=_text(r.get("judge")), heldout=_text(r.get("heldout")), auroc=finite(r.get("auroc")),
                   spearman_aligned=finite(r.get("spearman_aligned")),
                   spearman_coherent=finite(r.get("spearman_coherent")), n=_count(r.get("n")))


@dataclass
class PersonaLayer:
    """One ``persona.layer`` record: a trait vector's held-out effect size at one layer."""

    trait: str | None
    layer: int | None
    effect_size: float | None
    chosen: bool  # the layer the trait vector uses
    model: str | None

    @classmethod
    def from_record(cls, r: dict) -> "PersonaLayer":
        return cls(trait=_text(r.get("trait")), layer=_count(r.get("layer")), effect_size=finite(r.get("effect_size")),
                   chosen=bool(r.get("chosen")), model=_text(r.get("model")))


@dataclass
class PersonaDrift:
    """One ``persona.drift`` record: a checkpoint's shift along a trait vector, and its knowledge."""

    model_label: str | None
    trait: str | None
    step: int | None
    drift: float | None
    knowledge_accuracy: float | None
    loss: float | None

    @classmethod
    def from_record(cls, r: dict) -> "PersonaDrift":
        return cls(model_label=_text(r.get("model_label")), trait=_text(r.get("trait")), step=_count(r.get("step")),
                   drift=finite(r.get("drift")), knowledge_accuracy=finite(r.get("knowledge_accuracy")),
                   loss=finite(r.get("loss")))


@dataclass
class ScreenScore:
    """One ``persona.screen`` record: a training example's score on one trait."""

    trait: str | None
    index: int | None
    score: float | None
    flagged: bool

    @classmethod
    def from_record(cls, r: dict) -> "ScreenScore":
        return cls(trait=_text(r.get("trait")), index=_count(r.get("index")), score=finite(r.get("score")),
                   flagged=bool(r.get("flagged")))


@dataclass
class GateEvalRow:
    """One ``gate.eval`` record: the domain gate against one out-of-domain set."""

    ood_set: str | None
    auroc: float | None
    fpr_at_95tpr: float | None
    threshold: float | None
    false_reject_rate: float | None
    roc: list[tuple[float, float]] = field(default_factory=list)  # (false positive rate, true positive rate)

    @classmethod
    def from_record(cls, r: dict) -> "GateEvalRow":
        return cls(ood_set=_text(r.get("ood_set")), auroc=finite(r.get("auroc")),
                   fpr_at_95tpr=finite(r.get("fpr_at_95tpr")), threshold=finite(r.get("threshold")),
                   false_reject_rate=finite(r.get("false_reject_rate")), roc=_points(r.get("roc")))


@dataclass
class StageEvent:
    """One ``pipeline.stage`` record: what happened to a stage in ``tunewise run``."""

    stage: str
    status: str | None  # done | skipped | disabled | not available | failed
    reason: str | None
    wall_s: float | None

    @classmethod
    def from_record(cls, r: dict) -> "StageEvent":
        return cls(stage=str(r.get("stage")), status=_text(r.get("status")), reason=_text(r.get("reason")),
                   wall_s=finite(r.get("wall_s")))


@dataclass
class AuditSampling:
    """The audit settings the provenance section names, as written in config.yaml (any type)."""

    samples: Any = "?"
    probes: Any = "?"
    temperature: Any = "?"
    max_tokens: Any = "?"
    judge: Any = "?"


@dataclass
class RunConfig:
    """The run's resolved ``config.yaml``: the few values the page names, and all of it to show."""

    values: dict  # the whole file as read ({} when there is none), shown verbatim in Provenance
    name: str | None = None
    model: str | None = "?"
    description: str | None = None
    audit: AuditSampling | None = None  # None: the config has no audit section

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        audit = values.get("audit")
        sampling = None
        if isinstance(audit, dict) and audit:
            sampling = AuditSampling(**{k: audit.get(k, "?") for k in AuditSampling.__dataclass_fields__})
        return cls(values=values, name=_text(values.get("name")) or None, model=_text(values.get("model", "?")),
                   description=_text(values.get("description")) or None, audit=sampling)
