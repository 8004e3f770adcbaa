"""Accuracy with a Wilson score interval.

Wilson rather than the normal approximation because test splits here are small (tens of
items) and accuracies often sit near 0 or 1, where the normal interval leaves [0, 1] or
collapses to zero width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Accuracy:
    accuracy: float
    ci_low: float
    ci_high: float
    n: int


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% (by default) Wilson score interval for a proportion; ``successes`` may be fractional
    (partial scores). ``n == 0`` gives the uninformative (0, 1)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_with_ci(scores: list[float | None]) -> Accuracy:
    """Mean score and its Wilson interval over the scored items (``None`` = scorer failure, left out)."""
    scored = [s for s in scores if s is not None]
    n = len(scored)
    total = float(sum(scored))
    low, high = wilson_interval(total, n)
    return Accuracy(accuracy=total / n if n else 0.0, ci_low=low, ci_high=high, n=n)
