"""Rogan-Gladen correction of a judged rate, on plain numbers."""

import pytest

from tunewise.stats import corrected_rate_interval, rogan_gladen


def test_known_sensitivity_and_specificity_recover_the_true_rate():
    # true rate 0.30, judge sens 0.8, spec 0.95: observed = 0.8*0.3 + 0.05*0.7 = 0.275
    assert rogan_gladen(0.275, 0.8, 0.95) == pytest.approx(0.30)
    # a perfect judge changes nothing
    assert rogan_gladen(0.12, 1.0, 1.0) == pytest.approx(0.12)


def test_correction_is_clipped_and_refuses_a_chance_judge():
    assert rogan_gladen(0.01, 0.8, 0.95) == 0.0  # fewer flags than the false-positive rate alone gives
    with pytest.raises(ValueError, match="exceed 1"):
        rogan_gladen(0.2, 0.5, 0.5)


def test_interval_from_counts_centres_on_the_true_rate_and_covers_it():
    # 1,000 answers, 275 flagged; agreement measured on 1,000 positives and 1,000 negatives
    result = corrected_rate_interval(275, 1000, 800, 200, 950, 50)
    assert result.sensitivity == pytest.approx(0.8) and result.specificity == pytest.approx(0.95)
    assert result.rate == pytest.approx(0.30)
    assert result.ci_low < 0.30 < result.ci_high
    assert result.ci_high - result.ci_low < 0.12


def test_judge_uncertainty_widens_the_interval():
    big_sample = dict(k=2750, n=10000)
    well_measured = corrected_rate_interval(**big_sample, true_positives=8000, false_negatives=2000,
                                            true_negatives=9500, false_positives=500)
    few_labels = corrected_rate_interval(**big_sample, true_positives=8, false_negatives=2,
                                         true_negatives=95, false_positives=5)
    assert few_labels.rate == pytest.approx(well_measured.rate)
    assert (few_labels.ci_high - few_labels.ci_low) > 3 * (well_measured.ci_high - well_measured.ci_low)


def test_empty_sample_gives_no_rate_and_a_full_interval():
    result = corrected_rate_interval(0, 0, 80, 20, 95, 5)
    assert result.rate is None
    assert result.ci_low < 0.05 and result.ci_high > 0.95
