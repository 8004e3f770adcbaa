import sys

import pytest

from tunewise.assess.metrics import MetricSpec, build_scorer, first_number, normalize_text, parse_verdict
from tunewise.errors import ConfigError


def test_exact_trims_whitespace_quotes_and_fences_only():
    score = build_scorer("exact")
    assert score(" 2021-03-05\n", "2021-03-05") == 1.0
    assert score('"2021-03-05"', "2021-03-05") == 1.0
    assert score("```\n2021-03-05\n```", "2021-03-05") == 1.0
    assert score("The date is 2021-03-05", "2021-03-05") == 0.0
    assert score("answer", "Answer") == 0.0


def test_normalized_ignores_case_punctuation_articles():
    score = build_scorer("normalized")
    assert normalize_text("The Eiffel  Tower!") == "eiffel tower"
    assert score("the answer.", "Answer") == 1.0
    assert score("Café", "cafe") == 1.0
    assert score("answers", "answer") == 0.0


def test_contains_matches_whole_words():
    score = build_scorer("contains")
    assert score("I think it is Paris, France.", "paris") == 1.0
    assert score("Parisian food", "paris") == 0.0


def test_regex_with_and_without_pattern():
    extract = build_scorer(MetricSpec(name="regex", pattern=r"Answer:\s*(\w+)"))
    assert extract("Reasoning...\nAnswer: Blue", "blue") == 1.0
    assert extract("Answer: red", "blue") == 0.0
    assert extract("no marker", "blue") == 0.0
    gold_is_pattern = build_scorer("regex")
    assert gold_is_pattern("total: 42 items", r"\b42\b") == 1.0
    assert gold_is_pattern("total: 421 items", r"\b42\b") == 0.0
    with pytest.raises(ConfigError, match="invalid regular expression"):
        build_scorer(MetricSpec(name="regex", pattern="("))


def test_choice_takes_earliest_and_longest_label():
    score = build_scorer(MetricSpec(name="choice", choices=["close", "close_account", "open_account"]))
    assert score("close_account", "close_account") == 1.0
    assert score("Intent: open_account (not close_account)", "open_account") == 1.0
    assert score("Intent: open_account (not close_account)", "close_account") == 0.0
    assert score("none of these", "close") == 0.0


def test_numeric_tolerances():
    score = build_scorer(MetricSpec(name="numeric", rel_tol=0.01, abs_tol=0.0))
    assert score("about 100.9 km", "100") == 1.0
    assert score("101.5", "100") == 0.0
    assert score("-16.06", "−16.06") == 1.0
    assert score("1,234.5", "1234.5") == 1.0
    assert score("no number", "3") == 0.0
    assert first_number("x = .5") == 0.5
    with pytest.raises(ConfigError, match="holds no number"):
        score("3", "three")


def test_json_compares_parsed_objects():
    score = build_scorer("json")
    gold = '{"name": "Ana Silva", "quantity": 3, "city": "Lima"}'
    assert score('Here: {"city":"lima","quantity":3.0,"name":"Ana Silva"} done', gold) == 1.0
    assert score('{"name": "Ana Silva", "quantity": 4, "city": "Lima"}', gold) == 0.0
    assert score('{"name": "Ana Silva", "quantity": 3}', gold) == 0.0
    assert score("{not json}", gold) == 0.0


def test_python_scorer_from_module(tmp_path, monkeypatch):
    (tmp_path / "my_scorers.py").write_text("def even_length(output, gold):\n    return len(output) % 2 == 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    score = build_scorer(MetricSpec(name="python", function="my_scorers:even_length"))
    assert score("ab", "") == 1.0 and score("abc", "") == 0.0
    with pytest.raises(ConfigError, match="cannot import"):
        build_scorer(MetricSpec(name="python", function="my_scorers:missing"))
    sys.modules.pop("my_scorers", None)


def test_judge_verdicts_and_failures_are_not_zero(sharp_model_ref):
    assert parse_verdict("CORRECT.") == 1.0
    assert parse_verdict(" incorrect") == 0.0
    assert parse_verdict("I think so") is None
    score = build_scorer(MetricSpec(name="judge", judge_model=sharp_model_ref, rubric="same date"))
    # A random tiny model cannot give a verdict: that must be a recorded failure (None), not a 0.
    assert score("2021-03-05", "2021-03-05") is None
    with pytest.raises(ConfigError, match="judge_model"):
        build_scorer(MetricSpec(name="judge"))


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ConfigError, match="exact"):
        build_scorer("bleu")
