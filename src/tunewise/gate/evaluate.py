"""Measure a gate: AUROC, FPR at 95% TPR and refusal rate against out-of-domain sets.

Evaluate on in-domain inputs the gate was *not* fitted on (a task's held-out split, or a fresh
sample of a generator), otherwise the in-domain scores are optimistic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tunewise.errors import DataValidationError
from tunewise.gate.gate import DomainGate
from tunewise.gate.metrics import auroc, fpr_at_tpr, roc_points


@dataclass
class OODSetResult:
    """One out-of-domain set against the in-domain inputs. ``refusal_rate`` is the share of the
    set the gate refuses at its calibrated threshold; for a set a correct gate should *allow*
    (``expect_refusal`` False, e.g. in-domain paraphrases) it is a false-reject rate."""

    ood_set: str
    n: int
    auroc: float
    fpr_at_95tpr: float
    refusal_rate: float
    threshold: float
    false_reject_rate: float  # of the in-domain inputs, at the same threshold
    expect_refusal: bool = True
    roc: list[list[float]] = field(default_factory=list)

    def to_record(self) -> dict:
        return asdict(self)


@dataclass
class GateEvaluation:
    n_in_domain: int
    false_reject_rate: float
    threshold: float
    results: list[OODSetResult]

    def get(self, ood_set: str) -> OODSetResult:
        for result in self.results:
            if result.ood_set == ood_set:
                return result
        raise KeyError(ood_set)

    def write_to_store(self, store, prefix: str = "") -> None:
        """One ``gate.eval`` record per set (contracts.md), keyed by set name."""
        for result in self.results:
            store.put_record("gate.eval", f"{prefix}{result.ood_set}", result.to_record())


def evaluate_gate(gate: DomainGate, in_domain: list[str], ood_sets: dict[str, list[str]],
                  expect_refusal: dict[str, bool] | None = None) -> GateEvaluation:
    """Score ``in_domain`` and each set once (one embedding batch) and compare."""
    if not in_domain:
        raise DataValidationError("evaluate_gate needs in-domain texts (held out from fitting)")
    expect_refusal = expect_refusal or {}
    names = [name for name, texts in ood_sets.items() if texts]
    all_texts = list(in_domain) + [text for name in names for text in ood_sets[name]]
    scores = gate.score(all_texts)
    in_scores = scores[:len(in_domain)]
    false_reject = float(np.mean(in_scores > gate.threshold))
    results, offset = [], len(in_domain)
    for name in names:
        ood = scores[offset:offset + len(ood_sets[name])]
        offset += len(ood)
        results.append(OODSetResult(ood_set=name, n=len(ood), auroc=auroc(in_scores, ood),
                                    fpr_at_95tpr=fpr_at_tpr(in_scores, ood, 0.95),
                                    refusal_rate=float(np.mean(ood > gate.threshold)), threshold=gate.threshold,
                                    false_reject_rate=false_reject, expect_refusal=expect_refusal.get(name, True),
                                    roc=roc_points(in_scores, ood)))
    return GateEvaluation(n_in_domain=len(in_domain), false_reject_rate=false_reject, threshold=gate.threshold,
                          results=results)
