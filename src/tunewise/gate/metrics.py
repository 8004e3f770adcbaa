"""Detection metrics and threshold calibration on plain score arrays (higher = more OOD).

Conventions, so numbers compare with the OOD literature:
* AUROC: probability that a random out-of-domain input scores above a random in-domain one.
* FPR at 95% TPR: the fraction of out-of-domain inputs the gate still lets through when the
  threshold lets 95% of in-domain inputs through (in-domain is the positive class, as in
  Liu et al. 2020 and most text-OOD papers). Lower is better.
"""

from __future__ import annotations

import numpy as np

from tunewise.errors import ConfigError


def threshold_for_false_reject_rate(in_domain_scores: np.ndarray, target: float) -> float:
    """The smallest threshold that rejects at most ``target`` of ``in_domain_scores``
    (reject when score > threshold). With n held-out inputs a rate below 1/n cannot be
    resolved: the threshold is then the largest held-out score."""
    if not 0.0 <= target < 1.0:
        raise ConfigError(f"target false-reject rate must be in [0, 1), got {target}")
    scores = np.sort(np.asarray(in_domain_scores, dtype=np.float64))
    if scores.size == 0:
        raise ConfigError("cannot calibrate a threshold on zero held-out in-domain inputs")
    allowed_rejects = int(np.floor(target * scores.size))
    return float(scores[scores.size - 1 - allowed_rejects])


def auroc(in_domain_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """AUROC of separating out-of-domain (positive) from in-domain by score; ties count half."""
    from sklearn.metrics import roc_auc_score

    labels, scores = _stack(in_domain_scores, ood_scores)
    return float(roc_auc_score(labels, scores))


def fpr_at_tpr(in_domain_scores: np.ndarray, ood_scores: np.ndarray, tpr: float = 0.95) -> float:
    """Fraction of OOD inputs accepted at the threshold that accepts ``tpr`` of in-domain ones."""
    in_domain = np.asarray(in_domain_scores, dtype=np.float64)
    ood = np.asarray(ood_scores, dtype=np.float64)
    if in_domain.size == 0 or ood.size == 0:
        raise ConfigError("FPR at TPR needs in-domain and out-of-domain scores")
    threshold = np.quantile(in_domain, tpr, method="higher")  # accept score <= threshold
    return float(np.mean(ood <= threshold))


def roc_points(in_domain_scores: np.ndarray, ood_scores: np.ndarray, max_points: int = 101) -> list[list[float]]:
    """ROC curve as [[fpr, tpr], ...] with OOD as the positive class, thinned to at most
    ``max_points`` so it fits in a run-store record and a report plot."""
    from sklearn.metrics import roc_curve

    labels, scores = _stack(in_domain_scores, ood_scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    if fpr.size > max_points:
        keep = np.unique(np.linspace(0, fpr.size - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return [[round(float(f), 5), round(float(t), 5)] for f, t in zip(fpr, tpr)]


def _stack(in_domain_scores, ood_scores) -> tuple[np.ndarray, np.ndarray]:
    in_domain = np.asarray(in_domain_scores, dtype=np.float64)
    ood = np.asarray(ood_scores, dtype=np.float64)
    if in_domain.size == 0 or ood.size == 0:
        raise ConfigError("AUROC needs at least one in-domain and one out-of-domain score")
    labels = np.concatenate([np.zeros(in_domain.size), np.ones(ood.size)])
    return labels, np.concatenate([in_domain, ood])
