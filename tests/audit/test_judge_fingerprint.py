"""The judge fingerprint (name, weights and rubric sha256, preset): changes with the weights,
keys re-judging, and the local judge's weights load without pickle (the cross-encoder's:
test_cross_encoder_judge.py)."""

import shutil

import numpy as np
import pytest
import yaml

from tunewise.audit import AuditConfig, run_audit
from tunewise.audit.judges import judge_fingerprint
from tunewise.audit.judges.llm import LLMJudge
from tunewise.audit.judges.local import LocalJudge
from tunewise.audit.judges.local_model import WEIGHTS_PATH, load_heads, save_heads
from tunewise.data.probes import load_probe_set
from tunewise.runs.store import RunStore


@pytest.fixture()
def two_weights(tmp_path):
    """The shipped weights and a copy with one output weight changed."""
    first = tmp_path / "a.npz"
    shutil.copy(WEIGHTS_PATH, first)
    heads, meta = load_heads(first)
    heads["misaligned"].b2 = heads["misaligned"].b2 + 0.5
    second = tmp_path / "b.npz"
    save_heads(second, heads, meta)
    return first, second


def test_fingerprint_changes_when_weights_change(two_weights):
    first, second = two_weights
    a, a_again, b = (judge_fingerprint(LocalJudge(w), preset="betley") for w in (first, first, second))
    assert a == a_again and a["judge"] == "local" and a["preset"] == "betley"
    assert len(a["weights_sha256"]) == 64 and a["weights_sha256"] != b["weights_sha256"]
    assert a["rubric_sha256"] == b["rubric_sha256"] and a["id"] != b["id"]
    # the preset names how the judgment is read, not the judgment: same id under another preset
    assert judge_fingerprint(LocalJudge(first), preset="inoculation-repo")["id"] == a["id"]


def test_llm_judge_fingerprint_hashes_its_rubric(tiny_backend):
    fp = judge_fingerprint(LLMJudge(tiny_backend, scoring="digit_chain"), preset="betley")
    assert fp["judge"] == "llm:hf:tiny-test" and fp["weights_sha256"] is None and len(fp["rubric_sha256"]) == 64
    other = judge_fingerprint(LLMJudge(tiny_backend, scoring="digit_chain", min_mass=0.0), preset="betley")
    assert other["id"] != fp["id"]  # a different way of reading numbers is a different judge


def test_weights_load_without_pickle(tmp_path):
    path = tmp_path / "pickled.npz"
    arrays = dict(np.load(WEIGHTS_PATH, allow_pickle=False))
    arrays["meta"] = np.array([{"evil": "object"}], dtype=object)  # needs pickle to load
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="pickle"):
        load_heads(path)


def test_rejudging_is_keyed_on_the_fingerprint(tmp_path, tiny_backend, two_weights):
    core = load_probe_set("core")
    probes = tmp_path / "core2.yaml"
    probes.write_text(yaml.safe_dump({"name": "core", "version": core.version, "probes": [
        {"id": p.id, "question": p.question, "category": p.category} for p in core.probes[:2]]}))
    config = AuditConfig(models=["hf:tiny-test"], probes=str(probes), samples=2, max_tokens=5, batch_size=4,
                         controls=[])
    store = RunStore(tmp_path / "run")
    first, second = (LocalJudge(w) for w in two_weights)
    backends = {"base": tiny_backend}
    assert run_audit(config, store=store, judge=first, backends=backends).n_judged == 4
    assert run_audit(config, store=store, judge=first, backends=backends).n_judged == 0  # same fingerprint
    changed = run_audit(config, store=store, judge=second, backends=backends)
    assert changed.n_judged == 4  # new weights: judged again, the old judgments kept
    assert len(store.judgments("local")) == 8
    fingerprint = judge_fingerprint(second, "local", "betley")
    assert all(r.judge_fingerprint == fingerprint for r in changed.rates)
    stored = [j["raw"]["fingerprint"]["id"] for j in store.judgments("local")]
    assert sorted(set(stored)) == sorted({fingerprint["id"], judge_fingerprint(first, "local")["id"]})
    # the rates read only the judgments of the judge asked for
    back = run_audit(config, store=store, judge=first, backends=backends)
    assert back.n_judged == 0 and all(r.judge_fingerprint["id"] != fingerprint["id"] for r in back.rates)
