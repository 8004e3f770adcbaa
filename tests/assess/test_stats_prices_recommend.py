import pytest

from tunewise.assess.prices import DEFAULT_PRICES, Price, cost_per_1k, load_prices, price_for
from tunewise.assess.recommend import recommend
from tunewise.stats import accuracy_with_ci, wilson_interval
from tunewise.errors import ConfigError


def test_wilson_interval_known_values():
    # Reference values from the closed form (Wilson 1927), z = 1.96.
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_accuracy_leaves_out_scorer_failures():
    result = accuracy_with_ci([1.0, 0.0, None, 1.0])
    assert result.n == 3 and result.accuracy == pytest.approx(2 / 3)


def test_price_table_and_cost():
    table = load_prices()
    assert "EXAMPLE PRICES" in DEFAULT_PRICES.read_text()
    assert price_for("openai:gpt-4o-mini@https://api.openai.com/v1", table).input == 0.15
    assert price_for("openai:gpt-4o@https://api.openai.com/v1", table).input == 2.50
    assert price_for("packaged:qwen2.5-coder-0.5b-instruct+lora:/x/adapter", table) == \
        price_for("packaged:qwen2.5-coder-0.5b-instruct", table)
    assert price_for("hf:some/model", table) == table["default"]
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    # 1,000 queries x (1000 prompt tokens, 800 of them cached, 10 generated)
    assert cost_per_1k(price, 1000, 800, 10, use_cache=False) == pytest.approx(1000 * (1000 * 2 + 10 * 8) / 1e6)
    assert cost_per_1k(price, 1000, 800, 10, use_cache=True) == pytest.approx(1000 * (200 * 2 + 800 * 0.5 + 80) / 1e6)


def test_bad_price_table_names_the_entry(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("default: {input: 1, output: 2}\nmodels:\n  - pattern: 'x*'\n    input: cheap\n    output: 1\n")
    with pytest.raises(ConfigError, match=r"models\[0\]"):
        load_prices(path)


def _row(name, accuracy, low, high):
    return {"model": "m", "strategy": name, "accuracy": accuracy, "ci_low": low, "ci_high": high}


def test_recommendation_rule():
    finetune = _row("lora-64", 0.90, 0.80, 0.95)
    close = recommend([_row("zero-shot", 0.40, 0.3, 0.5), _row("few-shot-4", 0.89, 0.79, 0.94)], finetune)
    assert close.decision == "prompting" and "few-shot-4" in close.sentence and "within 2 points" in close.sentence
    overlapping = recommend([_row("few-shot-4", 0.80, 0.66, 0.90)], finetune)
    assert overlapping.decision == "prompting" and "overlap" in overlapping.sentence
    far = recommend([_row("few-shot-4", 0.50, 0.36, 0.64)], finetune)
    assert far.decision == "fine-tune" and "tunewise audit" in far.sentence
    assert "2 points" in far.rule
    assert recommend([_row("zero-shot", 0.5, 0.4, 0.6)], None).decision == "prompting"
