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

import dataclasses
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


class RecordView:
    """A typed view of one store record: each dataclass field is read from the record key of the
    same name and converted by its annotation (a junk value becomes None, never an exception),
    so a view is declared once, by its fields."""

    @classmethod
    def from_record(cls, r: dict):
        return cls(**{f.name: _CONVERTERS[f.type](r.get(f.name)) for f in dataclasses.fields(cls)})


@dataclass
class AssessStrategy(RecordView):
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


@dataclass
class CurvePoint(RecordView):
    """One ``assess.curve`` record: fine-tuned accuracy after ``train_size`` examples."""

    train_size: float | None
    accuracy: float | None


@dataclass
class AssessRecommendation(RecordView):
    """The ``assess.recommendation`` record: prompting or fine-tune, and why."""

    decision: str | None
    sentence: str | None
    margin: float | None  # accuracy points
    rule: str | None


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
class AuditComparison(RecordView):
    """One ``audit.comparison`` record: rate of ``b`` minus rate of ``a``, with its CI and p-value."""

    a: str | None
    b: str | None
    variant: str | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str | None = None  # issue 14: which test (paired or unpaired); absent in older records


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return finite(value[0]), finite(value[1])
    return None, None


#: how a view field's annotation (as written) turns a stored value into the view's value
def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_CONVERTERS = {"float | None": finite, "int | None": _count, "str | None": _text, "str": str, "bool": bool,
               "bool | None": _flag,
               "tuple[float | None, float | None]": _pair, "list[tuple[float, float]]": _points}


@dataclass
class AuditControls(RecordView):
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


@dataclass
class AuditLeakage(RecordView):
    """One ``audit.leakage`` record (issue 14): a tuned model's answers in its training domain,
    the base model's under the same rules, and both misaligned rates on the pairs outside it."""

    model_label: str | None
    dataset: str | None
    n: int | None
    share: float | None
    ci_low: float | None
    ci_high: float | None
    base_share: float | None
    n_pairs_outside: int | None
    rate_outside: float | None
    base_rate_outside: float | None
    diff_outside: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    p_value_outside: float | None


@dataclass
class AuditCheckpoint(RecordView):
    """One ``audit.checkpoint`` record (issue 14): a training checkpoint's loss, held-out task
    accuracy (where the task has held-out items) and misaligned rate."""

    run: str | None
    step: int | None
    loss: float | None
    misaligned_rate: float | None
    ci_low: float | None
    ci_high: float | None
    diff: float | None
    p_value: float | None
    task_accuracy: float | None
    task_n: int | None
    performance_metric: str | None
    in_domain_share: float | None
    diff_outside: float | None
    p_value_outside: float | None


@dataclass
class AuditTaskAccuracy(RecordView):
    """One ``audit.task_accuracy`` record: the base model's held-out task accuracy, the level a
    checkpoint's accuracy is read against."""

    run: str | None
    dataset: str | None
    accuracy: float | None
    n: int | None


@dataclass
class AuditEarlyStop(RecordView):
    """One ``audit.early_stop`` record (issue 14): the checkpoint to keep and why."""

    run: str | None
    step: int | None
    label: str | None
    reason: str | None


@dataclass
class JudgeAgreement(RecordView):
    """One ``audit.judge_agreement`` record: how well the judge matched reference labels."""

    judge: str | None
    heldout: str | None
    auroc: float | None
    spearman_aligned: float | None
    spearman_coherent: float | None
    n: int | None


@dataclass
class PersonaLayer(RecordView):
    """One ``persona.layer`` record: a trait vector's held-out effect size at one layer."""

    trait: str | None
    layer: int | None
    effect_size: float | None
    chosen: bool  # the layer the trait vector uses
    model: str | None


@dataclass
class PersonaDrift(RecordView):
    """One ``persona.drift`` record: a checkpoint's shift along a trait vector, and its knowledge."""

    model_label: str | None
    trait: str | None
    step: int | None
    drift: float | None
    knowledge_accuracy: float | None
    loss: float | None


@dataclass
class ScreenScore(RecordView):
    """One ``persona.screen`` record: a training example's score on one trait."""

    trait: str | None
    index: int | None
    score: float | None
    flagged: bool


@dataclass
class GateEvalRow(RecordView):
    """One ``gate.eval`` record: the domain gate against one out-of-domain set."""

    ood_set: str | None
    auroc: float | None
    fpr_at_95tpr: float | None
    threshold: float | None
    false_reject_rate: float | None  # of the gate's held-out in-domain calibration requests
    n: int | None
    refusal_rate: float | None  # of this set's requests
    expect_refusal: bool | None  # False: the set is in the domain (a refusal is a false reject)
    roc: list[tuple[float, float]] = field(default_factory=list)  # (false positive rate, true positive rate)


@dataclass
class StageEvent(RecordView):
    """One ``pipeline.stage`` record: what happened to a stage in ``tunewise run``."""

    stage: str
    status: str | None  # done | skipped | disabled | not available | failed
    reason: str | None
    wall_s: float | None


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
