import pytest

from tunewise.gate import evaluate_gate
from tunewise.gate.sources import probe_questions
from tunewise.runs.store import RunStore


def test_probes_are_separated_and_records_follow_the_contract(code_gate, code_inputs, tmp_path, off_domain):
    _, held_out = code_inputs
    evaluation = evaluate_gate(code_gate, held_out, {"probes:core": probe_questions("core"), "mine": off_domain,
                                                     "in-domain-copy": held_out[:20]},
                               expect_refusal={"in-domain-copy": False})
    core = evaluation.get("probes:core")
    assert core.auroc > 0.95 and core.fpr_at_95tpr < 0.2
    assert core.refusal_rate == pytest.approx(sum(s > code_gate.threshold for s in code_gate.score(probe_questions("core")))
                                              / len(probe_questions("core")))
    copy = evaluation.get("in-domain-copy")
    assert copy.expect_refusal is False and 0.2 < copy.auroc < 0.8  # same distribution: near chance

    store = RunStore(tmp_path / "run")
    evaluation.write_to_store(store)
    records = store.records("gate.eval")
    assert len(records) == 3
    for key in ("ood_set", "auroc", "fpr_at_95tpr", "roc", "threshold", "false_reject_rate"):
        assert key in records[0]
    assert records[0]["roc"][0] == [0.0, 0.0]
