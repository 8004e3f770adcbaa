import numpy as np
import pytest

from tunewise.errors import ConfigError
from tunewise.gate.metrics import auroc, fpr_at_tpr, roc_points, threshold_for_false_reject_rate


def test_threshold_rejects_at_most_the_target_share():
    scores = np.arange(100, dtype=float)  # 0..99
    threshold = threshold_for_false_reject_rate(scores, 0.05)
    assert np.mean(scores > threshold) == pytest.approx(0.05)
    assert threshold_for_false_reject_rate(scores, 0.0) == 99.0
    # a rate below 1/n is not resolvable: the largest held-out score is the threshold
    assert threshold_for_false_reject_rate(np.array([1.0, 3.0, 2.0]), 0.01) == 3.0


def test_threshold_rejects_bad_targets():
    with pytest.raises(ConfigError):
        threshold_for_false_reject_rate(np.arange(5.0), 1.5)
    with pytest.raises(ConfigError):
        threshold_for_false_reject_rate(np.array([]), 0.01)


def test_auroc_extremes_and_ties():
    assert auroc([0.0, 0.1, 0.2], [0.5, 0.9]) == 1.0
    assert auroc([0.5, 0.9], [0.0, 0.1]) == 0.0
    assert auroc([1.0, 1.0], [1.0, 1.0]) == 0.5


def test_fpr_at_95_tpr_counts_ood_inputs_accepted():
    in_domain = np.arange(100, dtype=float)  # threshold accepting 95% of them is 95
    ood = np.array([10.0, 50.0, 96.0, 200.0])
    assert fpr_at_tpr(in_domain, ood, 0.95) == pytest.approx(0.5)


def test_roc_points_are_monotone_and_thinned():
    rng = np.random.default_rng(0)
    points = roc_points(rng.normal(0, 1, 500), rng.normal(1, 1, 500), max_points=50)
    assert len(points) <= 50
    assert points[0] == [0.0, 0.0] and points[-1] == [1.0, 1.0]
    fprs = [p[0] for p in points]
    assert fprs == sorted(fprs)
