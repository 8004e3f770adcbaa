from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.persona import TraitVector
from tunewise.testing import save_tiny_model


def test_extract_then_steer_from_the_command_line(tmp_path):
    model = save_tiny_model(tmp_path / "model", layers=3)
    runner = CliRunner()
    result = runner.invoke(app, ["persona", "extract", "--model", model, "--trait", "deceptive", "--pairs", "1",
                                 "--questions", "2", "--eval-questions", "2", "--max-tokens", "4",
                                 "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "held-out separation" in result.output
    vector = TraitVector.load(tmp_path / "run" / "vectors" / "deceptive.safetensors")
    assert vector.model == model and vector.counts["pairs"] == 1
    vector_file = str(tmp_path / "run" / "vectors" / "deceptive.safetensors")
    result = runner.invoke(app, ["persona", "steer", "hello", "--vector", vector_file, "--model", model,
                                 "--alpha", "3", "--temperature", "0", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert "unsteered" in result.output and f"at layer {vector.layer}" in result.output


def test_traits_lists_the_builtin_traits():
    result = CliRunner().invoke(app, ["persona", "traits"])
    assert result.exit_code == 0 and "power-seeking" in result.output


def test_single_step_commands_show_their_own_flags_and_run_shows_all():
    runner = CliRunner()
    monitor = runner.invoke(app, ["persona", "monitor", "--help"], terminal_width=200).output
    assert "--adapters" in monitor and "--run-dir" in monitor and "--pairs" not in monitor and "--steps" not in monitor
    everything = runner.invoke(app, ["persona", "run", "--help"], terminal_width=200).output
    assert all(flag in everything for flag in ("--adapters", "--pairs", "--steps", "--screen-data", "--config"))
