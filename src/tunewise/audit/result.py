"""What an audit measured, typed: one ``MisalignedRate`` per (model, variant, probe or "all") and
one ``ModelComparison`` per (model beside the baseline, variant).

Each ``to_record()`` is exactly the payload of the store's ``audit.rate`` / ``audit.comparison``
records, which the report reads by key; so the field names here are that record schema and must
not be renamed. Undefined numbers (a rate with no coherent answer) are None, not NaN, because
they are stored as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunewise.stats import Comparison


def _finite(value):
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class MisalignedRate:
    """Misaligned among coherent answers (95% Wilson CI) and the other rates, for one model,
    variant and probe (``probe_id`` "all": every probe of the set)."""

    model_label: str
    model: str
    probe_set: str
    probe_id: str
    variant: str
    judge: str
    preset: str
    n: int  # answers
    n_failed: int  # judge failures (never counted as scores)
    n_scored: int  # judged prose answers with both scores
    n_coherent: int
    n_misaligned: int
    misaligned_rate: float | None
    ci_low: float
    ci_high: float
    coherent_rate: float | None
    refusal_rate: float | None
    code_rate: float | None
    # Added by issue 15 (keys added, none renamed). Probes left out of an overall rate for
    # having fewer coherent answers than AuditConfig.min_coherent_per_probe (Betley's rule):
    excluded_probes: list[str] = field(default_factory=list)
    # The misaligned rate corrected for the judge's measured error (Rogan-Gladen), its 95%
    # interval (sample and agreement uncertainty), the sensitivity/specificity used and where
    # they were measured; None when the judge ships no agreement counts for this preset.
    corrected_rate: float | None = None
    corrected_ci_low: float | None = None
    corrected_ci_high: float | None = None
    judge_sensitivity: float | None = None
    judge_specificity: float | None = None
    correction_source: str | None = None
    # judge name, weights and rubric sha256, preset, id (audit.judges.judge_fingerprint)
    judge_fingerprint: dict | None = None

    @classmethod
    def from_summary(cls, summary: dict, **labels: str) -> MisalignedRate:
        """From ``metrics.rate_summary`` and the labels saying what was measured."""
        return cls(**{k: _finite(v) for k, v in {**labels, **summary}.items()})

    def to_record(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelComparison:
    """Misaligned rate of ``b`` minus that of the baseline ``a``: bootstrap 95% CI of the
    difference and a permutation p-value (``tunewise.stats.bootstrap_difference``)."""

    a: str
    b: str
    rate_a: float | None
    rate_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_a: int
    n_b: int
    variant: str
    probe_set: str
    judge: str
    preset: str
    # Issue 14: which test made ci/p (paired where answers pair up by prompt and sample seed).
    test: str = "unpaired bootstrap (CI), permutation (p)"
    n_pairs: int | None = None

    @classmethod
    def from_comparison(cls, comparison: Comparison, **labels: str) -> ModelComparison:
        return cls(**{k: _finite(v) for k, v in {**comparison.to_dict(), **labels}.items()})

    def to_record(self) -> dict:
        return asdict(self)


@dataclass
class AuditResult:
    """What ``run_audit`` measured; the same rows are in the store as ``audit.rate`` and
    ``audit.comparison`` records."""

    probe_set: str
    judge: str
    preset: str
    models: dict[str, str] = field(default_factory=dict)  # label -> model ref; the first is the baseline
    variants: list[str] = field(default_factory=list)
    rates: list[MisalignedRate] = field(default_factory=list)
    comparisons: list[ModelComparison] = field(default_factory=list)
    n_generated: int = 0  # answers sampled by this call (0 when everything was stored already)
    n_judged: int = 0  # judgments made by this call
    n_failed: int = 0  # judge failures among this audit's answers
    run_dir: Path | None = None
    controls: object | None = None  # issue 14: audit.controls.ControlSummary (sensitivity, junk false flags)
    checkpoints: list = field(default_factory=list)  # issue 14: audit.checkpoints.CheckpointPoint per step
    early_stop: object | None = None  # issue 14: audit.checkpoints.EarlyStop (with --checkpoints)
    leakage: list = field(default_factory=list)  # issue 14: audit.leakage.LeakageSummary per tuned model and variant
    task_accuracy: dict = field(default_factory=dict)  # {label: audit.task_accuracy.TaskAccuracy}, base + checkpoints

    def overall(self, model_label: str, variant: str = "plain") -> MisalignedRate:
        """The rate over every probe of the set for one model and variant."""
        for rate in self.rates:
            if rate.model_label == model_label and rate.variant == variant and rate.probe_id == "all":
                return rate
        raise KeyError(f"no overall rate for {model_label!r}, variant {variant!r}")
