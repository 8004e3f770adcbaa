"""run_assess end to end on a tiny model: strategies, store records, resume, LoRA curve, CLI."""

import pytest
from typer.testing import CliRunner

from tunewise.assess import AssessConfig, run_assess
from tunewise.config import load_config
from tunewise.errors import ConfigError
from tunewise.runs.store import RunStore


def test_run_assess_records_resumes_and_finetunes(sharp_model_ref, tmp_path):
    config = AssessConfig(task="units", models=[sharp_model_ref], strategies=["zero-shot", "few-shot-2"],
                          n_examples=40, test_size=5, max_tokens=6, train_sizes=[4, 8],
                          train_options={"epochs": 1, "lr": 1e-3, "batch_size": 4})
    result = run_assess(config, tmp_path / "run")
    assert result.run_dir == tmp_path / "run"
    # adapters default to <run_dir>/adapters/assess/<variant>
    assert (tmp_path / "run" / "adapters" / "assess" / "assess-units-8" / "adapter" / "adapter_config.json").exists()
    with RunStore(tmp_path / "run") as store:
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
        # the baseline trained with the options given, the rest from assess's own defaults
        trained = store.get_record("train.run", "assess-units-8")["config"]
        assert (trained["epochs"], trained["lr"], trained["checkpoint_every"]) == (1, 1e-3, 1000)
        # Re-running with a shared store (as the pipeline does) resumes: nothing is generated or
        # trained again, the numbers are the same.
        again = run_assess(config, store=store)
        assert again.run_dir == tmp_path / "run"
        assert len(store.generations(stage="assess")) == generated
        assert [r["accuracy"] for r in again.strategies] == [r["accuracy"] for r in result.strategies]


def test_upgrade_view_lists_every_model(sharp_model_ref, tmp_path):
    config = AssessConfig(task="intents", models=[sharp_model_ref, sharp_model_ref + "/"], strategies=["zero-shot"],
                          n_examples=30, test_size=4, max_tokens=4, finetune=False)
    result = run_assess(config, tmp_path / "run")
    assert [row["model"] for row in result.upgrade] == config.models
    assert all(row["prompting_port"].startswith("re-run") for row in result.upgrade)


def test_config_accepts_bare_metric_names_and_rejects_typos(tmp_path):
    config = AssessConfig(task="units", metric="regex")
    assert config.metric.name == "regex" and config.metric.pattern is None
    assert AssessConfig(task="units", metric={"name": "numeric", "rel_tol": 0.1}).metric.rel_tol == 0.1
    assert AssessConfig(task="units", strategies="zero-shot, knn-2").strategies == ["zero-shot", "knn-2"]
    defaults = AssessConfig(task="units").train_options
    assert (defaults.epochs, defaults.lr, defaults.lora_rank, defaults.checkpoint_every) == (2, 2e-4, 8, 1000)
    partial = AssessConfig(task="units", train_options={"epochs": 5}).train_options
    assert (partial.epochs, partial.lr) == (5, 2e-4)  # one option given, the others keep their defaults
    path = tmp_path / "assess.yaml"
    path.write_text("assess:\n  task: units\n  metric: exact\n  train_options:\n    epoch: 3\n")
    with pytest.raises(ConfigError, match=r"assess.yaml:5: assess.train_options.epoch: unknown field; "
                                          r"did you mean 'epochs'\?"):
        load_config(AssessConfig, path)
    for bad, message in [({"metric": "exactly"}, "did you mean 'exact'"), ({"strategies": ["few-shot"]}, "few-shot-K"),
                         ({"train_options": {"lr": -1}}, "greater than 0"), ({"train_options": {"model": "x"}},
                                                                              "unknown field"),
                         ({"backend": "vlm"}, "unknown backend"), ({"train_sizes": [-1]}, "0 .the whole")]:
        with pytest.raises(ConfigError, match=message):
            load_config(AssessConfig, None, {"task": "units", **bad})


def test_cli_prints_table_and_rule_and_shows_it_again(sharp_model_ref, tmp_path):
    from tunewise.cli import app

    runner = CliRunner()
    run_dir = tmp_path / "cli-run"
    result = runner.invoke(app, ["assess", "--task", "dates", "--model", sharp_model_ref, "--strategies",
                                 "zero-shot,instructions", "--no-finetune", "--test-size", "4", "--n-examples", "40",
                                 "--max-tokens", "4", "--seed", "1", "--dev-size", "2", "--batch-size", "2",
                                 "--margin-points", "5", "--metric", "contains", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "Recommendation" in result.output and "instructions" in result.output
    with RunStore(run_dir) as store:
        saved = store.load_config()["assess"]
    assert (saved["seed"], saved["dev_size"], saved["batch_size"], saved["margin_points"]) == (1, 2, 2, 5)
    assert saved["metric"]["name"] == "contains"
    shown = runner.invoke(app, ["assess", "--show", "--run-dir", str(run_dir)])  # no --task needed
    assert shown.exit_code == 0, shown.output
    assert "Recommendation" in shown.output and "instructions" in shown.output
    listed = runner.invoke(app, ["assess", "--list-tasks"])
    assert listed.exit_code == 0 and "dates:" in listed.output and "units:" in listed.output
    bad = runner.invoke(app, ["assess", "--task", "no-such-task", "--model", sharp_model_ref, "--run-dir",
                              str(tmp_path / "bad")])
    assert isinstance(bad.exception, ConfigError)
    typo = runner.invoke(app, ["assess", "--task", "dates", "--train-options", "{epoch: 3}"])
    assert isinstance(typo.exception, ConfigError) and "--train-options" in str(typo.exception)
    (tmp_path / "a-file").write_text("")
    not_a_folder = runner.invoke(app, ["assess", "--task", "dates", "--run-dir", str(tmp_path / "a-file")])
    assert isinstance(not_a_folder.exception, ConfigError) and "is a file" in str(not_a_folder.exception)
    missing = runner.invoke(app, ["assess", "--show", "--run-dir", str(tmp_path / "nothing-here")])
    assert isinstance(missing.exception, ConfigError)


def test_prefix_cache_flag_is_recorded(sharp_model_ref, tmp_path):
    base = dict(task="units", models=[sharp_model_ref], strategies=["few-shot-2"], n_examples=30, test_size=3,
                max_tokens=4, finetune=False)
    with_cache = run_assess(AssessConfig(**base), tmp_path / "a").strategies[0]
    without = run_assess(AssessConfig(**base, prefix_cache=False), tmp_path / "b").strategies[0]
    assert with_cache["prefix_cache"] is True and without["prefix_cache"] is False
    assert with_cache["accuracy"] == without["accuracy"] and with_cache["prompt_tokens"] == without["prompt_tokens"]



def test_curve_scores_every_adapter_on_one_base_load_with_fresh_load_answers(sharp_model_ref, tmp_path,
                                                                               monkeypatch):
    """The learning curve loads the base once for all its points (LoraSwitcher), and its answers
    are those of base+adapter loaded afresh per point, which is what it did before."""
    import tunewise.models.hf as hf
    from tunewise.assess.evaluate import generate_answers
    from tunewise.assess.strategies import Strategy, build_prompts
    from tunewise.assess.task import load_task
    from tunewise.models import load_backend
    from tunewise.models.types import SamplingParams

    loads = []
    real_load = hf.load_causal_lm
    monkeypatch.setattr(hf, "load_causal_lm", lambda ref, *a, **k: loads.append(str(ref)) or real_load(ref, *a, **k))
    config = AssessConfig(task="units", models=[sharp_model_ref], strategies=["zero-shot"], n_examples=40,
                          test_size=5, max_tokens=6, train_sizes=[4, 8],
                          train_options={"epochs": 1, "lr": 1e-2, "batch_size": 4})
    run_assess(config, tmp_path / "run")
    assert loads == [sharp_model_ref, sharp_model_ref]  # prompting, then the whole curve (was one per point)
    task = load_task("units", n=40, seed=0, test_size=5)
    chats = build_prompts(Strategy("zero-shot", "zero-shot"), task, task.test)
    params = SamplingParams(temperature=0.0, max_tokens=6, seed=0)
    with RunStore(tmp_path / "run") as store:
        tuned = sorted({g["model"] for g in store.generations(stage="assess") if "+lora:" in g["model"]})
        assert len(tuned) == 2
        for model in tuned:
            stored = {g["meta"]["item"]: g["text"] for g in store.generations(stage="assess", model=model)}
            fresh = generate_answers(load_backend(model, backend="hf"), chats, params, use_prefix_cache=True)
            assert [stored[item.id] for item in task.test] == [c.text for c in fresh.completions]
