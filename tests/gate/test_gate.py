import json

import numpy as np
import pytest

from tunewise.errors import ConfigError, DataValidationError
from tunewise.gate import DomainGate, fit_gate
from tunewise.gate.gate import CalibrationWarning, conformal_threshold, inputs_needed


def test_gate_allows_held_out_requests_and_refuses_other_topics(code_gate, code_inputs, off_domain):
    _, held_out = code_inputs
    in_scores = code_gate.score(held_out)
    off_scores = code_gate.score(off_domain)
    assert np.mean(in_scores <= code_gate.threshold) >= 0.9
    assert all(score > code_gate.threshold for score in off_scores)
    assert not code_gate.allows(off_domain[0])
    assert code_gate.allows(held_out[0]) == bool(in_scores[0] <= code_gate.threshold)


def test_cross_fitted_calibration_uses_every_input(code_gate, code_inputs):
    info = code_gate.info
    assert info["calibration"] == "cross-fit" and info["folds"] == 5
    assert info["n_fit"] == info["n_calibration"] == len(code_gate.knn.reference) == len(set(code_inputs[0]))
    low, high = info["false_reject_rate_ci"]
    assert low <= info["calibration_false_reject_rate"] <= high
    assert info["expected_false_reject_rate"] <= info["target_false_reject_rate"] + 1 / (info["n_calibration"] + 1)


def test_conformal_threshold_and_expected_rate():
    scores = np.arange(1, 100, dtype=float)  # n = 99
    threshold, expected = conformal_threshold(scores, 0.05)
    assert threshold == 95.0 and expected == pytest.approx(0.05)  # rank ceil(100 * 0.95) = 95
    threshold, expected = conformal_threshold(scores[:10], 0.01)  # too few: the largest score
    assert threshold == 10.0 and expected == pytest.approx(1 / 11)


def test_too_few_inputs_for_the_target_warn(code_inputs):
    with pytest.warns(CalibrationWarning, match="cannot hold a 1.0% false-reject target") as caught:
        gate = fit_gate(code_inputs[0][:40], target_false_reject_rate=0.01)
    assert "inputs would keep the interval under 2.0%" in str(caught[0].message)
    assert gate.info["calibration_warning"] and gate.info["n_calibration"] == 40
    assert inputs_needed(0.01) > 40 and inputs_needed(0.1) < inputs_needed(0.01)


def test_holdout_calibration_is_still_available(code_inputs):
    gate = fit_gate(code_inputs[0], target_false_reject_rate=0.05, calibration="holdout")
    info = gate.info
    assert info["calibration"] == "holdout" and info["n_fit"] + info["n_holdout"] == len(set(code_inputs[0]))
    assert info["holdout_false_reject_rate"] <= 0.05
    with pytest.raises(ConfigError, match="calibration must be"):
        fit_gate(code_inputs[0], calibration="magic")


def test_decisions_carry_each_detector_score(code_gate, off_domain):
    decision = code_gate.decide([off_domain[1]])[0]
    assert set(decision.detectors) == {"mahalanobis", "knn"}
    assert decision.score == pytest.approx(code_gate.score([off_domain[1]])[0])
    assert decision.allowed is False


def test_save_load_round_trip_without_pickle(code_gate, code_gate_dir, off_domain):
    assert sorted(p.name for p in code_gate_dir.iterdir() if p.name.startswith("gate.")) == ["gate.json", "gate.npz"]
    with np.load(code_gate_dir / "gate.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    loaded = DomainGate.load(code_gate_dir)
    texts = off_domain[:2] + ["Write a Python function that reads a CSV file into a list of dicts."]
    np.testing.assert_allclose(loaded.score(texts), code_gate.score(texts), rtol=1e-5)
    assert loaded.threshold == code_gate.threshold
    assert loaded.info["n_fit"] == code_gate.info["n_fit"]


def test_load_names_the_problem(tmp_path, code_gate_dir):
    with pytest.raises(ConfigError, match="gate.json: missing"):
        DomainGate.load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "gate.npz").write_bytes((code_gate_dir / "gate.npz").read_bytes())
    meta = json.loads((code_gate_dir / "gate.json").read_text())
    del meta["threshold"]
    (broken / "gate.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="'threshold' is missing"):
        DomainGate.load(broken)


def test_fit_gate_needs_enough_distinct_texts():
    with pytest.raises(DataValidationError, match="at least 10 distinct"):
        fit_gate(["same request"] * 50)
