"""Paired comparisons (tunewise.stats): McNemar's exact test and the paired bootstrap, on plain numbers."""

import math

import numpy as np
import pytest

from tunewise.stats import (PAIRED_TEST, bootstrap_difference, mcnemar_exact, paired_bootstrap_difference)


def test_mcnemar_exact_known_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)  # 2 * P(X <= 1), X ~ Bin(10, 1/2)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(5, 5) == 1.0


def test_identical_answers_give_no_difference():
    outcomes = np.array([0, 1, 0, 0, 1, 0, 0, 0] * 10, dtype=float)
    c = paired_bootstrap_difference(outcomes, outcomes.copy(), seed=1)
    assert c.diff == 0 and c.ci_low == 0 and c.ci_high == 0 and c.p_value == 1.0
    assert c.test == PAIRED_TEST and c.n_pairs == 80


def test_pairing_narrows_the_interval_when_most_pairs_agree():
    # base: 20 of 200 misaligned; tuned: the same 20 plus 12 more (12 discordant pairs, all one way)
    base = np.zeros(200)
    base[:20] = 1
    tuned = base.copy()
    tuned[20:32] = 1
    paired = paired_bootstrap_difference(base, tuned, seed=0)
    unpaired = bootstrap_difference(base, tuned, seed=0)
    assert paired.diff == pytest.approx(0.06) == pytest.approx(unpaired.diff)
    assert paired.ci_high - paired.ci_low < 0.6 * (unpaired.ci_high - unpaired.ci_low)
    assert paired.p_value < 0.01 < unpaired.p_value  # McNemar agrees: 2 / 2**12
    assert mcnemar_exact(0, 12) < 0.01


def test_uncounted_answers_are_left_out_of_each_rate():
    base = np.array([0, 0, math.nan, 1, 0, math.nan])
    tuned = np.array([1, math.nan, 0, 1, 0, 1])
    c = paired_bootstrap_difference(base, tuned, seed=0)
    assert c.rate_a == pytest.approx(1 / 4) and c.rate_b == pytest.approx(3 / 5)
    assert c.n_a == 4 and c.n_b == 5 and c.n_pairs == 6
    assert c.ci_low <= c.diff <= c.ci_high and 0 < c.p_value <= 1


def test_no_counted_answers_and_length_mismatch():
    empty = paired_bootstrap_difference([math.nan, math.nan], [0.0, 1.0])
    assert math.isnan(empty.diff) and math.isnan(empty.p_value) and empty.n_a == 0
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_difference([0, 1], [0, 1, 1])
