"""`tunewise gate fit` / `tunewise gate eval` end to end, and the same numbers from `run_gate`."""

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.errors import ConfigError
from tunewise.gate import GateConfig, run_gate
from tunewise.runs.store import RunStore


def test_gate_fit_then_eval_writes_gate_results_and_records(tmp_path, code_inputs, off_domain):
    in_domain = tmp_path / "requests.jsonl"  # chat JSONL: requests span several lines
    in_domain.write_text("".join(json.dumps({"messages": [{"role": "user", "content": text},
                                                          {"role": "assistant", "content": "ok"}]}) + "\n"
                                 for text in code_inputs[0][:60]))
    ood = tmp_path / "other.txt"
    ood.write_text("\n".join(off_domain) + "\n")
    run_dir = tmp_path / "run"
    runner = CliRunner()
    fit = runner.invoke(app, ["gate", "fit", "--data", str(in_domain), "--run-dir", str(run_dir),
                              "--target-false-reject-rate", "0.05"])
    assert fit.exit_code == 0, fit.output
    gate_dir = run_dir / "gate"
    meta = json.loads((gate_dir / "gate.json").read_text())
    assert meta["target_false_reject_rate"] == 0.05 and meta["source"] == str(in_domain)
    held_out = json.loads((gate_dir / "eval_inputs.json").read_text())
    assert len(held_out) == 12 and set(held_out) <= set(code_inputs[0][:60])
    assert meta["n_fit"] == meta["n_calibration"] == 48  # the evaluation inputs were not fitted on
    assert "warning: 48 calibration inputs cannot hold a 5.0% false-reject target" in " ".join(fit.output.split())

    evaluation = runner.invoke(app, ["gate", "eval", "--run-dir", str(run_dir), "--ood", str(ood),
                                     "--n-per-set", "10"])
    assert evaluation.exit_code == 0, evaluation.output
    results = json.loads((gate_dir / "eval.json").read_text())
    names = [r["ood_set"] for r in results["results"]]
    assert names[0] == "file:other.txt" and "hard:prefix-injection" in names
    assert not any(name.startswith(("probes:", "task:")) for name in names)  # only the sets asked for
    assert results["results"][0]["auroc"] > 0.9
    assert {r["ood_set"] for r in RunStore(run_dir).records("gate.eval")} == set(names)


def test_cli_fit_and_eval_give_the_numbers_run_gate_gives(tmp_path, off_domain):
    """What the pipeline runs (run_gate with task:<dataset>, n, seed) and what the two commands
    measure on the same settings are the same numbers. The CLI reads them from an experiment-style
    YAML section plus flags."""
    ood = tmp_path / "other.txt"
    ood.write_text("\n".join(off_domain) + "\n")
    settings = {"data": "task:insecure-code", "n": 80, "seed": 3, "n_per_set": 8,
                "ood_sets": ["probes:core", "task:secure-code", "task:units", str(ood)]}
    config_file = tmp_path / "experiment.yaml"
    config_file.write_text(json.dumps({"gate": {k: v for k, v in settings.items() if k != "seed"}}))
    runner = CliRunner()
    cli_run = tmp_path / "cli"
    for command in ("fit", "eval"):
        result = runner.invoke(app, ["gate", command, "--config", str(config_file), "--seed", "3",
                                     "--run-dir", str(cli_run)])
        assert result.exit_code == 0, result.output

    api = run_gate(GateConfig(**settings), tmp_path / "api")
    cli_eval = json.loads((cli_run / "gate" / "eval.json").read_text())
    cli_meta = json.loads((cli_run / "gate" / "gate.json").read_text())
    assert cli_meta["threshold"] == pytest.approx(api.threshold, abs=1e-9)
    assert (cli_meta["n_fit"], cli_meta["n_calibration"], cli_eval["n_in_domain"]) == \
        (api.n_fit, api.n_calibration, api.n_eval)
    # cross-fitting: every fit input is also a calibration input (scored out of fold)
    assert api.calibration == "cross-fit" and api.n_fit == api.n_calibration
    assert api.n_fit + api.n_eval == 80
    assert api.calibration_warning and "cannot hold a 1.0% false-reject target" in api.calibration_warning
    assert [r["ood_set"] for r in cli_eval["results"]] == [r.ood_set for r in api.sets]
    for cli_set, api_set in zip(cli_eval["results"], api.sets):
        assert cli_set["auroc"] == pytest.approx(api_set.auroc, abs=1e-6), api_set.ood_set
        assert cli_set["refusal_rate"] == pytest.approx(api_set.refusal_rate, abs=1e-9), api_set.ood_set
        assert cli_set["expect_refusal"] == api_set.expect_refusal
    assert api.get("task:secure-code").expect_refusal is False  # same requests: should not refuse
    assert api.get("probes:core").expect_refusal is True and api.get("probes:core").auroc > 0.9
    with RunStore(tmp_path / "api") as store:
        assert store.get_record("gate.summary", str(api.gate_dir))["threshold"] == api.threshold
        assert len(store.records("gate.eval")) == len(api.sets)


def test_gate_eval_on_a_missing_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["gate", "eval", "--run-dir", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "gate.json: missing" in str(result.exception)


def test_fitting_needs_data_and_both_likelihood_models(tmp_path):
    with pytest.raises(ConfigError, match="data: fitting a gate needs in-domain inputs"):
        run_gate(GateConfig(steps=["fit"]), tmp_path)
    with pytest.raises(ValidationError, match="needs both"):
        GateConfig(data="task:insecure-code", tuned_model="hf:x")


def test_bad_flags_name_the_flag():
    result = CliRunner().invoke(app, ["gate", "fit", "--data", "task:insecure-cod"])
    assert result.exit_code != 0
    assert "--data" in str(result.exception) and "did you mean 'insecure-code'" in str(result.exception)


@pytest.mark.parametrize("flags,message", [
    (["--n", "-5"], "--n: Input should be greater than or equal to 1"),
    (["--eval-fraction", "-0.2"], "--eval-fraction:"),
    (["--target-false-reject-rate", "1.5"], "--target-false-reject-rate:"),
])
def test_negative_or_out_of_range_numbers_are_refused(tmp_path, flags, message):
    result = CliRunner().invoke(app, ["gate", "fit", "--data", "task:insecure-code", *flags,
                                      "--run-dir", str(tmp_path)])
    assert message in str(result.exception) and not (tmp_path / "gate").exists()
