import numpy as np
import pytest

from tunewise.errors import ConfigError
from tunewise.gate.detectors import KNNDetector, MahalanobisDetector


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_mahalanobis_scores_far_points_higher_and_respects_covariance():
    rng = np.random.default_rng(0)
    # wide along axis 0, narrow along axis 1
    data = rng.normal(0, 1, (400, 2)) * np.array([5.0, 0.5])
    detector = MahalanobisDetector.fit(data)
    along_wide, along_narrow = detector.score(np.array([[5.0, 0.0], [0.0, 5.0]]))
    assert along_narrow > 10 * along_wide
    assert 0.0 <= detector.shrinkage <= 1.0


def test_mahalanobis_needs_two_points():
    with pytest.raises(ConfigError):
        MahalanobisDetector.fit(np.ones((1, 3)))


def test_knn_score_is_one_minus_mean_similarity_of_nearest():
    reference = np.eye(3, dtype=np.float32)
    detector = KNNDetector.fit(reference, k=1)
    assert detector.score(np.array([[1.0, 0.0, 0.0]])) == pytest.approx([0.0])
    query = _unit(np.array([[1.0, 1.0, 0.0]]))
    assert detector.score(query) == pytest.approx([1 - 1 / np.sqrt(2)], abs=1e-6)
    two = KNNDetector.fit(reference, k=2).score(query)
    assert two == pytest.approx([1 - 1 / np.sqrt(2)], abs=1e-6)  # both nearest are at cos 1/sqrt(2)
    assert KNNDetector.fit(reference, k=10).k == 3  # k capped by the reference size
