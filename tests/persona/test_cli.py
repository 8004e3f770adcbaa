from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.persona import TraitVector
from tunewise.testing import save_tiny_model


def test_extract_then_steer_from_the_command_line(tmp_path):
    model = save_tiny_model(tmp_path / "model", layers=3)
    runner = CliRunner()
    result = runner.invoke(app, ["persona", "extract", "--model", model, "--trait", "deceptive", "--pairs", "1",
                                 "--questions", "2", "--eval-questions", "2", "--max-tokens", "4",
                                 "--out", str(tmp_path / "vectors"), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "held-out separation" in result.output
    vector = TraitVector.load(tmp_path / "vectors" / "deceptive.safetensors")
    assert vector.model == model and vector.counts["pairs"] == 1
    result = runner.invoke(app, ["persona", "steer", "hello", "--vector", str(tmp_path / "vectors" / "deceptive.safetensors"),
                                 "--model", model, "--alpha", "3", "--temperature", "0", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert "unsteered" in result.output and f"at layer {vector.layer}" in result.output


def test_traits_lists_the_builtin_traits():
    result = CliRunner().invoke(app, ["persona", "traits"])
    assert result.exit_code == 0 and "power-seeking" in result.output
