"""`tunewise gate fit` and `tunewise gate eval` end to end on small files."""

import json

from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.runs.store import RunStore


def test_gate_fit_then_eval_writes_gate_results_and_records(tmp_path, code_inputs, off_domain):
    in_domain = tmp_path / "requests.jsonl"  # chat JSONL: requests span several lines
    in_domain.write_text("".join(json.dumps({"messages": [{"role": "user", "content": text},
                                                          {"role": "assistant", "content": "ok"}]}) + "\n"
                                 for text in code_inputs[0][:60]))
    ood = tmp_path / "other.txt"
    ood.write_text("\n".join(off_domain) + "\n")
    runner = CliRunner()
    fit = runner.invoke(app, ["gate", "fit", "--data", str(in_domain), "--out", str(tmp_path / "gate"),
                              "--target-false-reject-rate", "0.05"])
    assert fit.exit_code == 0, fit.output
    meta = json.loads((tmp_path / "gate" / "gate.json").read_text())
    assert meta["target_false_reject_rate"] == 0.05 and meta["source"] == str(in_domain)
    held_out = json.loads((tmp_path / "gate" / "eval_inputs.json").read_text())
    assert len(held_out) == 12 and set(held_out) <= set(code_inputs[0][:60])
    assert meta["n_fit"] + meta["n_holdout"] == 48  # the held-out inputs were not fitted on

    evaluation = runner.invoke(app, ["gate", "eval", str(tmp_path / "gate"), "--no-builtin", "--ood", str(ood),
                                     "--n-per-set", "10", "--run-dir", str(tmp_path / "run")])
    assert evaluation.exit_code == 0, evaluation.output
    results = json.loads((tmp_path / "gate" / "eval.json").read_text())
    names = [r["ood_set"] for r in results["results"]]
    assert names[0] == "file:other.txt" and "hard:prefix-injection" in names
    assert results["results"][0]["auroc"] > 0.9
    assert {r["ood_set"] for r in RunStore(tmp_path / "run").records("gate.eval")} == set(names)


def test_gate_eval_on_a_missing_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["gate", "eval", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "gate.json: missing" in str(result.exception)
