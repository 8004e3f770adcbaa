import json

import numpy as np
import pytest

from tunewise.errors import ConfigError, DataValidationError
from tunewise.gate import DomainGate, fit_gate


def test_gate_allows_held_out_requests_and_refuses_other_topics(code_gate, code_inputs, off_domain):
    _, held_out = code_inputs
    in_scores = code_gate.score(held_out)
    off_scores = code_gate.score(off_domain)
    assert np.mean(in_scores <= code_gate.threshold) >= 0.9
    assert all(score > code_gate.threshold for score in off_scores)
    assert not code_gate.allows(off_domain[0])
    assert code_gate.allows(held_out[0]) == bool(in_scores[0] <= code_gate.threshold)


def test_calibration_meets_target_on_its_holdout(code_gate):
    info = code_gate.info
    assert info["n_fit"] == len(code_gate.knn.reference) and info["n_holdout"] >= 20
    assert info["holdout_false_reject_rate"] <= max(info["target_false_reject_rate"], info["resolvable_false_reject_rate"])


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
