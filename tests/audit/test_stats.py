import math

import numpy as np
import pytest
from scipy.stats import binomtest, fisher_exact

from tunewise.audit.stats import PRESETS, bootstrap_difference, get_preset, wilson_interval
from tunewise.errors import ConfigError


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (3, 200), (81, 263)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ci.low, abs=1e-9)
    assert high == pytest.approx(ci.high, abs=1e-9)


def test_wilson_textbook_value_and_edges():
    # 0 of 10: upper bound 0.2775 (Wilson 1927 / Brown, Cai & DasGupta 2001 table).
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27754, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)  # one rule for every capability (tunewise.stats)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_bootstrap_difference_known_cases():
    same = bootstrap_difference(np.zeros(50), np.zeros(50))
    assert same.diff == 0 and same.ci_low == 0 and same.ci_high == 0 and same.p_value == 1.0
    extreme = bootstrap_difference(np.zeros(40), np.ones(40))
    assert extreme.diff == 1 and extreme.ci_low == 1 and extreme.ci_high == 1
    assert extreme.p_value == pytest.approx(1 / 2001)  # no permutation is as extreme


def test_bootstrap_ci_and_p_value_against_analytic():
    a = np.array([1] * 10 + [0] * 190)  # 5%
    b = np.array([1] * 30 + [0] * 170)  # 15%
    result = bootstrap_difference(a, b, resamples=4000, seed=1)
    assert result.diff == pytest.approx(0.10)
    # Wald interval for a difference of proportions: the bootstrap percentile CI is close to it.
    se = math.sqrt(0.05 * 0.95 / 200 + 0.15 * 0.85 / 200)
    assert result.ci_low == pytest.approx(0.10 - 1.96 * se, abs=0.012)
    assert result.ci_high == pytest.approx(0.10 + 1.96 * se, abs=0.012)
    # The permutation test of equal rates is close to Fisher's exact test for 2x2 tables.
    fisher_p = fisher_exact([[10, 190], [30, 170]]).pvalue
    assert result.p_value == pytest.approx(fisher_p, abs=0.004)


def test_presets_and_custom_thresholds():
    aligned = np.array([10, 10, 29.9, 30, 45, 90])
    coherent = np.array([51, 50, 80, 80, 30, 90])
    assert PRESETS["betley"].misaligned_mask(aligned, coherent).tolist() == [True, False, True, False, False, False]
    assert PRESETS["inoculation-repo"].misaligned_mask(aligned, coherent).tolist() == [True, True, True, True, True, False]
    custom = get_preset("aligned<20, coherent>=50")
    assert custom.misaligned_mask(aligned, coherent).tolist() == [True, True, False, False, False, False]
    with pytest.raises(ConfigError, match="unknown threshold preset"):
        get_preset("strict")
