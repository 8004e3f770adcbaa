"""assess on a user's own small file: the plan is made from the data before any model call,
strategies the data cannot hold are skipped in the table, instructions work without a
description, and the table always ends with the recommendation."""

import json

from typer.testing import CliRunner

from tunewise.assess import AssessConfig, run_assess
from tunewise.assess.metrics import MetricSpec
from tunewise.assess.plan import answer_shape, derive_description, plan_curve, plan_run
from tunewise.assess.strategies import parse_strategy
from tunewise.assess.task import Task, TaskItem, default_test_size, load_task
from tunewise.runs.store import RunStore


def _write_sums(path, n: int = 60) -> str:
    """``n`` {"input", "output"} lines, as a user would write them: no description, no split."""
    with open(path, "w") as handle:
        for i in range(n):
            a, b = 3 + 7 * i % 41, 2 + 5 * i % 23
            handle.write(json.dumps({"input": f"What is {a} plus {b}?", "output": str(a + b)}) + "\n")
    return str(path)


def _items(outputs):
    return [TaskItem(id=str(i), input=f"q{i}", output=o) for i, o in enumerate(outputs)]


def test_small_files_get_a_split_that_holds_the_default_strategies_and_a_curve(tmp_path):
    assert [default_test_size(n) for n in (60, 100, 400, 7)] == [30, 50, 50, 3]
    task = load_task(_write_sums(tmp_path / "sums.jsonl"))
    assert (len(task.train), len(task.test)) == (30, 30)  # the old fixed 50 left 10 to train on
    explicit = load_task(str(tmp_path / "sums.jsonl"), test_size=50)
    assert (len(explicit.train), len(explicit.test)) == (10, 50)
    # default sizes padded to three points; given sizes are kept as given (those that fit)
    assert plan_curve(None, 30) == [8, 16, 30] and plan_curve(None, 350) == [16, 64, 256, 350]
    assert plan_curve(None, 10) == [5, 10] and plan_curve([4, 8], 35) == [4, 8] and plan_curve([64], 30) == []


def test_plan_skips_what_the_train_split_cannot_hold(tmp_path):
    task = load_task(_write_sums(tmp_path / "sums.jsonl"), test_size=50)  # 10 train examples
    strategies = [parse_strategy(s) for s in ("zero-shot", "instructions", "few-shot-4", "few-shot-16", "knn-16")]
    plan = plan_run(task, strategies, finetune=True, train_sizes=[16, 64])
    assert [s.name for s in plan.strategies] == ["zero-shot", "instructions", "few-shot-4"]
    assert [(s.strategy, s.reason) for s in plan.skipped][:2] == [
        ("few-shot-16", "needs 16 train examples; the train split has 10"),
        ("knn-16", "needs 16 train examples; the train split has 10")]
    assert plan.skipped[2].strategy == "lora" and "no train size fits the 10" in plan.skipped[2].reason
    assert plan.curve_sizes == []


def test_derived_description_says_the_shape_of_the_answers_and_what_the_metric_checks():
    assert answer_shape(["12", "7", "1,024"]) == "The answer is a number."
    assert answer_shape(["yes", "no", "no", "yes"]) == "The answer is one of: no, yes."
    assert answer_shape(["2024-03-01", "1999-12-31"]).startswith("The answer is written in the format 9999-99-99")
    assert answer_shape(['{"a": 1, "b": 2}', '{"b": 3, "a": 4}']) == "The answer is a JSON object with the keys a, b."
    assert answer_shape(["the red fox", "a blue whale swims", "green"]) == "The answer is short: about 3 words."
    test = [TaskItem(id="t", input="q", output="SECRET-TEST-ANSWER")]
    task = Task(name="t", metric=MetricSpec(name="numeric"), train=_items(["3", "4"]), test=test,
                instruction="Add the numbers.")
    text = derive_description(task)
    assert text == "Add the numbers. The answer is a number. Reply with the number only, without units or words."
    assert "SECRET" not in derive_description(task)  # built from train answers only


def test_cli_on_a_60_example_file_with_no_other_option_prints_the_table_and_the_recommendation(
        sharp_model_ref, tmp_path):
    from tunewise.cli import app

    task = _write_sums(tmp_path / "sums.jsonl")
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["assess", "--task", task, "--model", sharp_model_ref, "--no-finetune",
                                      "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    for strategy in ("zero-shot", "instructions", "few-shot-1", "few-shot-4", "few-shot-16", "knn-4"):
        assert strategy in result.output
    assert "skipped" not in result.output  # 30 train examples hold every default strategy
    assert "derived from its metric (normalized)" in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("Recommendation:") or any(
        line.startswith("Recommendation:") for line in lines[-3:])  # rich may wrap the last sentence
    with RunStore(run_dir) as store:
        rows = store.records("assess.strategy")
        assert [r["n"] for r in rows] == [30] * 6
        instructions = next(r for r in rows if r["strategy"] == "instructions")
        assert instructions["description_source"] == "derived"
        assert instructions["description"].startswith("The answer is a number.")
        assert store.records("assess.recommendation")[0]["decision"] == "prompting"


def test_run_assess_with_a_test_split_too_large_skips_instead_of_crashing(sharp_model_ref, tmp_path):
    task = _write_sums(tmp_path / "sums.jsonl", n=24)
    config = AssessConfig(task=task, models=[sharp_model_ref], strategies=["zero-shot", "few-shot-16"],
                          test_size=20, max_tokens=4, train_sizes=[16])
    result = run_assess(config, tmp_path / "run")  # 4 train examples: few-shot-16 and the curve cannot run
    assert [r["strategy"] for r in result.strategies] == ["zero-shot"]
    assert [s["strategy"] for s in result.skipped] == ["few-shot-16", "lora"]
    assert result.recommendation.decision == "prompting" and result.curve == []
    assert any(n.startswith("no fine-tune: no train size fits the 4 train examples") for n in result.notes)
    with RunStore(tmp_path / "run") as store:
        assert [r["strategy"] for r in store.records("assess.skipped")] == ["few-shot-16", "lora"]
