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
