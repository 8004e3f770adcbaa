"""Intervals and tests, one copy for every capability (assess, audit, persona, gate).

Pure functions over numbers, no I/O, tested against known values (tests/test_stats.py).

Wilson rather than the normal approximation because the samples here are small (tens of test
items, a few hundred judged answers) and rates sit near 0 or 1, where the normal interval leaves
[0, 1] or collapses to zero width. Before this module, assess and audit each had a
``wilson_interval`` and they disagreed at n = 0 (assess (0, 1), audit (nan, nan)); the one rule
now is (0, 1): with no observations every rate is possible, and an interval that says so is
both honest and printable, while the rate itself is reported as missing by the caller.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% (by default) Wilson score interval for a proportion. ``successes`` may be fractional
    (assess's partial scores); the ends are exact at 0 and n. ``n == 0`` gives (0, 1)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes}/{n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class Accuracy:
    """A mean score over scored items with its Wilson interval."""

    accuracy: float
    ci_low: float
    ci_high: float
    n: int


def accuracy_with_ci(scores: list[float | None]) -> Accuracy:
    """Mean score and its Wilson interval over the scored items (``None`` = scorer failure, left out)."""
    scored = [s for s in scores if s is not None]
    n = len(scored)
    total = float(sum(scored))
    low, high = wilson_interval(total, n)
    return Accuracy(accuracy=total / n if n else 0.0, ci_low=low, ci_high=high, n=n)


@dataclass
class Comparison:
    """Rate of ``b`` minus rate of ``a`` with a percentile bootstrap CI and a permutation p-value."""

    a: str
    b: str
    rate_a: float
    rate_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_difference(a, b, resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                         label_a: str = "a", label_b: str = "b") -> Comparison:
    """Compare two groups' per-item 0/1 outcomes (e.g. 1 = misaligned, over coherent answers).

    The CI resamples each group with replacement (2,000 resamples, as Betley et al.); the
    two-sided p-value is a permutation test of "same rate" (labels shuffled between groups),
    which for 0/1 outcomes approximates Fisher's exact test without its conditioning on margins.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return Comparison(label_a, label_b, _mean(x), _mean(y), math.nan, math.nan, math.nan, math.nan,
                          len(x), len(y))
    rng = np.random.default_rng(seed)
    diff = y.mean() - x.mean()
    boot = (y[rng.integers(0, len(y), (resamples, len(y)))].mean(axis=1)
            - x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    pooled = np.concatenate([x, y])
    perm = np.argsort(rng.random((resamples, len(pooled))), axis=1)
    shuffled = pooled[perm]
    null = shuffled[:, len(x):].mean(axis=1) - shuffled[:, :len(x)].mean(axis=1)
    # +1 in numerator and denominator: a permutation p-value is never exactly 0.
    p = (np.sum(np.abs(null) >= abs(diff) - 1e-12) + 1) / (resamples + 1)
    return Comparison(label_a, label_b, float(x.mean()), float(y.mean()), float(diff), float(low), float(high),
                      float(min(1.0, p)), len(x), len(y))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


__all__ = ["Z95", "wilson_interval", "Accuracy", "accuracy_with_ci", "Comparison", "bootstrap_difference"]


@dataclass(frozen=True)
class CorrectedRate:
    """A rate corrected for the judge's error (Rogan-Gladen) with an interval that carries the
    sample's and the judge's agreement uncertainty; ``rate`` is None when the judge's
    sensitivity + specificity <= 1 (a judge no better than chance cannot be corrected)."""

    rate: float | None
    ci_low: float
    ci_high: float
    observed_rate: float
    sensitivity: float
    specificity: float


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """True rate from a rate measured by an imperfect classifier (Rogan & Gladen 1978):
    observed = sens * p + (1 - spec) * (1 - p), so p = (observed + spec - 1) / (sens + spec - 1),
    clipped to [0, 1]. Raises ValueError when sens + spec <= 1 (no information to invert)."""
    youden = sensitivity + specificity - 1
    if youden <= 0:
        raise ValueError(f"sensitivity + specificity must exceed 1 to correct a rate, got "
                         f"{sensitivity:.3f} + {specificity:.3f}")
    return float(min(1.0, max(0.0, (observed + specificity - 1) / youden)))


def corrected_rate_interval(k: int, n: int, true_positives: int, false_negatives: int, true_negatives: int,
                            false_positives: int, draws: int = 20000, seed: int = 0,
                            confidence: float = 0.95) -> CorrectedRate:
    """Rogan-Gladen corrected rate of ``k`` flagged among ``n`` judged answers, given the judge's
    agreement counts on reference labels (TP, FN: reference-positive answers the judge flagged /
    missed; TN, FP: reference-negative answers it passed / flagged).

    The interval is Monte Carlo over three independent Jeffreys posteriors, Beta(x + 1/2, n - x + 1/2),
    one for the observed rate, one for sensitivity, one for specificity; each draw is corrected and
    clipped to [0, 1] and the percentiles are the interval. So a judge measured on few labels (wide
    sensitivity) widens the interval even when the audit sample is large, which a Wilson interval
    on the raw rate cannot show (Lang & Reiczigel 2014 use the same construction). Draws whose
    sens + spec <= 1 count as "any rate" (0 or 1 alternately), widening the interval honestly.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"k must be in [0, n], got {k}/{n}")
    sens_n, spec_n = true_positives + false_negatives, true_negatives + false_positives
    if sens_n <= 0 or spec_n <= 0:
        raise ValueError("the agreement counts need at least one reference-positive and one reference-negative answer")
    sensitivity, specificity = true_positives / sens_n, true_negatives / spec_n
    observed = k / n if n else math.nan
    rng = np.random.default_rng(seed)
    p_obs = rng.beta(k + 0.5, n - k + 0.5, draws) if n else rng.random(draws)
    sens = rng.beta(true_positives + 0.5, false_negatives + 0.5, draws)
    spec = rng.beta(true_negatives + 0.5, false_positives + 0.5, draws)
    youden = sens + spec - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = np.clip((p_obs + spec - 1) / youden, 0.0, 1.0)
    bad = youden <= 0
    corrected[bad] = np.arange(bad.sum()) % 2
    tail = (1 - confidence) / 2
    low, high = np.quantile(corrected, [tail, 1 - tail])
    try:
        point = rogan_gladen(observed, sensitivity, specificity) if n else None
    except ValueError:
        point = None
    return CorrectedRate(point, float(low), float(high), observed, sensitivity, specificity)


__all__ += ["CorrectedRate", "rogan_gladen", "corrected_rate_interval"]


# ---- paired comparisons (audit: the same prompts and per-sample seeds for every model) ----------------

PAIRED_TEST = "paired bootstrap over prompts x samples (CI), within-pair permutation (p)"
UNPAIRED_TEST = "unpaired bootstrap (CI), permutation (p)"


@dataclass
class PairedComparison(Comparison):
    """A ``Comparison`` made on paired outcomes; ``test`` names how, ``n_pairs`` counts the pairs."""

    test: str = PAIRED_TEST
    n_pairs: int = 0


def paired_bootstrap_difference(a, b, resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                                label_a: str = "a", label_b: str = "b") -> PairedComparison:
    """Compare two models answering the same (prompt, sample seed) pairs: ``a[i]`` and ``b[i]``
    are outcomes of pair i (1 = misaligned, 0 = not, NaN = not counted, e.g. an incoherent answer).

    Each rate is the mean of its counted outcomes. The CI resamples *pairs* with replacement, so
    what the two answers of a pair share (the prompt, the seed; identical text when a fine-tune
    changed nothing) cancels in the difference instead of widening it as in the unpaired
    bootstrap. The two-sided p-value swaps the two outcomes of each pair with probability 1/2
    (exchangeable within a pair under "same model behaviour"), +1 smoothed like the unpaired test.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired outcomes need the same length, got {len(x)} and {len(y)}")
    n_a, n_b = int(np.sum(~np.isnan(x))), int(np.sum(~np.isnan(y)))
    if n_a == 0 or n_b == 0:
        return PairedComparison(label_a, label_b, _nanmean(x), _nanmean(y), math.nan, math.nan, math.nan, math.nan,
                                n_a, n_b, n_pairs=len(x))
    rng = np.random.default_rng(seed)
    diff = float(np.nanmean(y) - np.nanmean(x))
    index = rng.integers(0, len(x), (resamples, len(x)))
    boot = _rowwise_nanmean(y[index]) - _rowwise_nanmean(x[index])
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(boot, [tail, 1 - tail])
    swap = rng.random((resamples, len(x))) < 0.5
    null = _rowwise_nanmean(np.where(swap, x, y)) - _rowwise_nanmean(np.where(swap, y, x))
    null = null[~np.isnan(null)]
    p = (np.sum(np.abs(null) >= abs(diff) - 1e-12) + 1) / (len(null) + 1)
    return PairedComparison(label_a, label_b, float(np.nanmean(x)), float(np.nanmean(y)), diff, float(low),
                            float(high), float(min(1.0, p)), n_a, n_b, n_pairs=len(x))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: ``only_a`` pairs where only
    the first is 1, ``only_b`` where only the second is. Concordant pairs carry no information
    about a difference, which is why pairing needs fewer samples when most pairs agree."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def _nanmean(values: np.ndarray) -> float:
    counted = values[~np.isnan(values)]
    return float(counted.mean()) if len(counted) else math.nan


def _rowwise_nanmean(matrix: np.ndarray) -> np.ndarray:
    counted = ~np.isnan(matrix)
    totals = np.where(counted, matrix, 0.0).sum(axis=1)
    n = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, totals / np.maximum(n, 1), np.nan)


__all__ += ["PAIRED_TEST", "UNPAIRED_TEST", "PairedComparison", "paired_bootstrap_difference", "mcnemar_exact"]
