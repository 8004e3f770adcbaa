"""run_assess end to end on a tiny model: strategies, store records, resume, LoRA curve, CLI."""

import pytest
from typer.testing import CliRunner

from tunewise.assess import AssessConfig, run_assess
from tunewise.errors import ConfigError
from tunewise.runs.store import RunStore


def test_run_assess_records_resumes_and_finetunes(sharp_model_ref, tmp_path):
    config = AssessConfig(task="units", models=[sharp_model_ref], strategies=["zero-shot", "few-shot-2"],
                          n_examples=40, test_size=5, max_tokens=6, train_sizes=[4, 8],
                          train_options={"epochs": 1, "lr": 1e-3, "batch_size": 4})
    with RunStore(tmp_path / "run") as store:
        result = run_assess(config, store)
        strategies = store.records("assess.strategy")
        assert [r["strategy"] for r in strategies] == ["zero-shot", "few-shot-2", "lora-8"]
        assert all(r["n"] == 5 and r["generated_tokens"] > 0 and r["wall_s"] > 0 for r in strategies)
        few = strategies[1]
        assert few["cached_prompt_tokens"] > strategies[0]["cached_prompt_tokens"]
        assert few["cost_per_1k_cached"] < few["cost_per_1k"]
        assert [p["train_size"] for p in store.records("assess.curve")] == [4, 8]
        assert "+lora:" in strategies[2]["model"]
        decision = store.records("assess.recommendation")[0]
        assert decision["decision"] in ("prompting", "fine-tune") and decision["rule"] == result.recommendation.rule
        generated = len(store.generations(stage="assess"))
        assert generated == 5 * 4  # 2 strategies + 2 adapters, 5 test items each
        # Re-running resumes: nothing is generated or trained again, the numbers are the same.
        again = run_assess(config, store)
        assert len(store.generations(stage="assess")) == generated
        assert [r["accuracy"] for r in again.strategies] == [r["accuracy"] for r in result.strategies]


def test_upgrade_view_lists_every_model(sharp_model_ref, tmp_path):
    config = AssessConfig(task="intents", models=[sharp_model_ref, sharp_model_ref + "/"], strategies=["zero-shot"],
                          n_examples=30, test_size=4, max_tokens=4, finetune=False)
    result = run_assess(config, None)
    assert [row["model"] for row in result.upgrade] == config.models
    assert all(row["prompting_port"].startswith("re-run") for row in result.upgrade)


def test_cli_prints_table_and_rule(sharp_model_ref, tmp_path):
    from tunewise.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["assess", "--task", "dates", "--model", sharp_model_ref, "--strategies",
                                 "zero-shot,instructions", "--no-finetune", "--test-size", "4", "--n-examples", "40",
                                 "--max-tokens", "4", "--run", str(tmp_path / "cli-run")])
    assert result.exit_code == 0, result.output
    assert "Recommendation" in result.output and "instructions" in result.output
    assert (tmp_path / "cli-run" / "tunewise.sqlite").exists()
    bad = runner.invoke(app, ["assess", "--task", "no-such-task", "--model", sharp_model_ref, "--run",
                              str(tmp_path / "bad")])
    assert isinstance(bad.exception, ConfigError)


def test_prefix_cache_flag_is_recorded(sharp_model_ref):
    base = dict(task="units", models=[sharp_model_ref], strategies=["few-shot-2"], n_examples=30, test_size=3,
                max_tokens=4, finetune=False)
    with_cache = run_assess(AssessConfig(**base), None).strategies[0]
    without = run_assess(AssessConfig(**base, prefix_cache=False), None).strategies[0]
    assert with_cache["prefix_cache"] is True and without["prefix_cache"] is False
    assert with_cache["accuracy"] == without["accuracy"] and with_cache["prompt_tokens"] == without["prompt_tokens"]
