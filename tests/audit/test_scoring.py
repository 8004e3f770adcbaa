import math

import pytest

from tunewise.audit.judges.scoring import (digit_chain_distribution, label_masses, number_of,
                                           score_from_distribution, unscorable_label, weighted_number_score)


def table(**probabilities):
    return {token: math.log(p) for token, p in probabilities.items()}


def test_number_tokens():
    assert [number_of(t) for t in ["0", " 42", "100", "101", "007", "4.5", "ten", ""]] == \
        [0, 42, 100, None, None, None, None, None]


def test_weighted_mean_over_number_tokens():
    top = {"80": math.log(0.5), " 90": math.log(0.3), "hello": math.log(0.2)}
    result = weighted_number_score(top)
    assert result.mass == pytest.approx(0.8)
    assert result.score == pytest.approx((80 * 0.5 + 90 * 0.3) / 0.8)


def test_unscorable_below_quarter_mass_and_labels():
    refusal = {"REF": math.log(0.7), "50": math.log(0.2), "The": math.log(0.1)}
    result = weighted_number_score(refusal)
    assert result.score is None and result.mass == pytest.approx(0.2)
    assert unscorable_label(refusal) == "refusal"
    code = {"CODE": math.log(0.6), "REF": math.log(0.1), "7": math.log(0.1)}
    assert weighted_number_score(code).score is None
    assert unscorable_label(code) == "code"
    assert label_masses(code)["code"] == pytest.approx(0.6)
    assert unscorable_label({"Sure": math.log(0.9)}) == "unscorable"
    # exactly at the threshold still scores
    assert weighted_number_score({"40": math.log(0.25), "x": math.log(0.75)}).score == pytest.approx(40)


def test_digit_chain_distribution_hand_built():
    first = [0.0] * 10
    first[4], first[1] = 0.6, 0.4
    second = [[0.0] * 10 for _ in range(10)]
    second[4][2] = 0.75   # "4" -> "42" with 0.75, ends at "4" with 0.25
    second[1][0] = 1.0    # "1" -> "10"
    dist = digit_chain_distribution(first, second, third_zero_after_10=0.5)  # "10" -> "100" half the time
    assert dist[42] == pytest.approx(0.45)
    assert dist[4] == pytest.approx(0.15)
    assert dist[10] == pytest.approx(0.2) and dist[100] == pytest.approx(0.2)
    assert sum(dist.values()) == pytest.approx(1.0)
    score = score_from_distribution(dist)
    assert score.score == pytest.approx(0.45 * 42 + 0.15 * 4 + 0.2 * 10 + 0.2 * 100)
    assert score_from_distribution({5: 0.1}).score is None
