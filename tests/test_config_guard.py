"""The guard of issue 13: every setting has one name and one default in Python, on the command line
and in experiment.yaml. If a field lacks its flag, or a flag or section shows another default,
these tests fail.
"""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.config import config_command, flag_default_text, flag_names
from tunewise.pipeline.config import CAPABILITIES, ExperimentConfig, describe_fields
from tunewise.pipeline.sections import OWNED, capability_values

# The command(s) of every capability and the config model each must be generated from.
EXPECTED = {
    ("assess",): "AssessConfig", ("train",): "TrainConfig", ("audit",): "AuditConfig",
    ("persona", "extract"): "PersonaConfig", ("persona", "monitor"): "PersonaConfig",
    ("persona", "screen"): "PersonaConfig", ("gate", "fit"): "GateConfig", ("gate", "eval"): "GateConfig",
    ("serve",): "ServeConfig", ("report",): "ReportConfig",
}


def _commands(group, path: tuple = ()):
    # typer ships its own copy of click, so commands and options are recognised by shape, not class.
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, path + (name,))
        else:
            yield path + (name,), command


def flag_problems(command) -> list[str]:
    """What is wrong between ``command``'s options and the config model it was generated from."""
    model = getattr(command.callback, "__config_model__", None)
    if model is None:
        return [f"{command.name}: not generated from a config model (use tunewise.config.config_command)"]
    excluded = getattr(command.callback, "__config_excluded__", frozenset())
    options = {param.name: param for param in command.params if param.param_type_name == "option"}
    problems = []
    for name, field in model.model_fields.items():
        if name in excluded:
            continue
        option = options.get(name)
        if option is None:
            problems.append(f"{model.__name__}.{name}: no flag")
            continue
        wanted = {n.split("/")[0] for n in flag_names(name, field)}
        if not wanted <= set(option.opts):
            problems.append(f"{model.__name__}.{name}: flag spelled {option.opts}, expected {sorted(wanted)}")
        if option.show_default != flag_default_text(field):
            problems.append(f"{model.__name__}.{name}: flag shows default {option.show_default!r}, "
                            f"the field's is {flag_default_text(field)!r}")
    return problems


def test_every_capability_command_has_every_field_as_a_flag_with_its_default():
    commands = dict(_commands(typer.main.get_command(app)))
    for path, model_name in EXPECTED.items():
        assert path in commands, f"tunewise {' '.join(path)} is missing"
        callback = commands[path].callback
        assert getattr(callback, "__config_model__", None).__name__ == model_name, path
        assert flag_problems(commands[path]) == [], path


def test_the_guard_fails_when_a_field_lacks_its_flag():
    from pydantic import Field

    from tunewise.config import CapabilityConfig

    class Settings(CapabilityConfig):
        samples: int = Field(10, description="answers per probe")
        judge: str = Field("local", description="judge name")

    probe = typer.Typer()

    @probe.command("good")
    @config_command(Settings)
    def good(config: Settings) -> None:
        pass

    @probe.command("bad")
    def bad(samples: int = typer.Option(4, "--samples")) -> None:  # hand-typed, drifted, incomplete
        pass

    bad.__config_model__ = Settings
    commands = typer.main.get_command(probe).commands
    assert flag_problems(commands["good"]) == []
    problems = flag_problems(commands["bad"])
    assert "Settings.judge: no flag" in problems
    assert any("samples: flag shows default" in p for p in problems)


@pytest.mark.parametrize("section", list(CAPABILITIES))
def test_every_field_is_a_yaml_key_of_its_section_with_the_same_default(section):
    capability = CAPABILITIES[section]
    section_model = ExperimentConfig.model_fields[section].annotation
    empty = ExperimentConfig(name="guard")
    for name, field in capability.model_fields.items():
        assert name in section_model.model_fields, f"{section}.{name}: not a key of the {section} section"
        if name in OWNED[section]:
            continue  # filled in by the experiment (model, data, variants...)
        section_field = section_model.model_fields[name]
        if section_field.is_required() or field.is_required():
            continue
        assert flag_default_text(section_field) == flag_default_text(field), f"{section}.{name}: default differs"
    assert capability_values(getattr(empty, section), section) == {}


def test_help_config_lists_every_field_of_every_section():
    output = CliRunner().invoke(app, ["run", "--help-config"]).output
    lines = describe_fields()
    for section, capability in CAPABILITIES.items():
        start = lines.index(next(line for line in lines if line.startswith(f"{section}:")))
        block = []
        for line in lines[start + 1:]:
            if not line.startswith("  "):
                break
            block.append(line.strip())
        for name in capability.model_fields:
            assert any(line.startswith(f"{name}:") or line.startswith(f"# {name}:") for line in block), \
                f"--help-config does not list {section}.{name}"
    assert "audit:" in output and "samples:" in output
