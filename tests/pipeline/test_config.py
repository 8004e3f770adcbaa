"""Experiment YAML validation: typos and wrong types fail with file:line: field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.errors import ConfigError
from tunewise.pipeline import BUILTIN_EXPERIMENTS, builtin_experiment, load_experiment, parse_experiment
from tunewise.pipeline.config import describe_fields

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("text,expected", [
    ("name: x\naudit:\n  sampels: 3\n", "exp.yaml:3: audit.sampels: unknown field; did you mean 'samples'?"),
    ("name: x\naudit:\n  samples: zero\n", "exp.yaml:3: audit.samples: expected an integer, got str 'zero'"),
    # Numbers are strict: quoted numbers, booleans and YAML's string "1e23" are not silently converted.
    ("name: x\naudit:\n  samples: '100'\n", "exp.yaml:3: audit.samples: expected an integer, got str '100'"),
    ("name: x\naudit:\n  samples: 1e23\n", "exp.yaml:3: audit.samples: expected an integer, got str '1e23'"),
    ("name: x\ngate:\n  k: true\n", "exp.yaml:3: gate.k: expected an integer, got bool True"),
    ("name: x\ntrain:\n  lora_rnk: 4\n", "exp.yaml:3: train.lora_rnk: unknown field; did you mean 'lora_rank'?"),
    ("name: x\ntrain:\n  lr: -1\n", "exp.yaml:3: train.lr: Input should be greater than 0"),
    ("name: x\ntrain:\n  variants:\n    - {name: a}\n    - {name: b, placment: system}\n",
     "exp.yaml:5: train.variants.1.placment: unknown field; did you mean 'placement'?"),
    ("name: x\ntrain:\n  variants:\n    - {name: a}\n    - {name: a}\n", "variant names must be unique; repeated: a"),
    ("name: x\nmodel: llama\n", "exp.yaml:2: model: model reference 'llama' has no known scheme"),
    ("model: packaged:smollm2-135m-instruct\n", "exp.yaml:1: name: required field is missing"),
    ("name: x\nassess:\n  enabled: true\n", "exp.yaml:2: assess.task: required when assess is enabled"),
    ("name: x\nassess:\n  task: dates\n  n_exampls: 5\n",
     "exp.yaml:4: assess.n_exampls: unknown field; did you mean 'n_examples'?"),
    ("name: x\ntrain:\n  max_examples: 3\n", "exp.yaml:3: train.max_examples: set by the experiment (task.n_examples)"),
    ("name: x\naudit:\n  models: [a]\n", "exp.yaml:3: audit.models: set by the experiment"),
    ("name: x\naudit:\n  samples: 3\n  samples: 5000\n", "exp.yaml:4: samples: duplicate key (first given on line 3)"),
    ("name: ../../outside\n", "exp.yaml:1: name: experiment names are letters"),
    ("name: x\naudit:\n  samples: " + "[" * 100 + "]" * 100 + "\n", "exp.yaml:3: nested deeper than 64 levels"),
    ("name: x\nseed: '3'\n", "exp.yaml:2: seed: expected an integer, got str '3'"),
    ("name: x\ntask: {n_examples: true}\n", "exp.yaml:2: task.n_examples: expected an integer, got bool True"),
    ("name: x\nmodel: packaged:smollm2-135m-instruct+lora:/no/such/adapter\n",
     "exp.yaml:2: model: +lora:/no/such/adapter: no adapter there"),
    ("name: x\naudit: {probes: /no/such/probes.yaml}\n", "exp.yaml:2: audit.probes: /no/such/probes.yaml: no such probe set file"),
    ("name: x\ntrain:\n  variants: [{name: ..}]\n", "exp.yaml:3: train.variants.0.name: variant names are"),
    ("name: x\na: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "the document expands to too many nodes"),
    ("name: x\n  bad: [\n", "exp.yaml:2: not valid YAML"),
    ("- a\n- b\n", "exp.yaml:1: an experiment file is a YAML mapping"),
])
def test_bad_experiments_name_line_and_field(text, expected):
    with pytest.raises(ConfigError) as error:
        parse_experiment(text, "exp.yaml")
    assert expected in str(error.value)


def test_defaults_and_relative_data_path(tmp_path):
    (tmp_path / "exp.yaml").write_text("name: mine\ntask:\n  data: train.jsonl\n")
    (tmp_path / "train.jsonl").write_text('{"input": "a", "output": "b"}\n')
    config = load_experiment(tmp_path / "exp.yaml")
    assert config.task.data == str((tmp_path / "train.jsonl").resolve())
    assert [v.name for v in config.train.variants] == ["plain", "inoculated"]
    assert config.assess.active is False and config.audit.probes == "core" and config.audit.samples == 10
    assert str(config.resolved_run_dir()) == "runs/mine"


def test_variant_dataset_and_vectors_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "exp.yaml").write_text(
        "name: mine\ntrain:\n  variants:\n    - {name: edu, dataset: educational-insecure}\n"
        "    - {name: own, dataset: data/own.jsonl}\npersona:\n  vectors: vecs\n")
    (tmp_path / "vecs").mkdir()
    config = load_experiment(tmp_path / "exp.yaml")
    assert [v.dataset for v in config.train.variants] == ["educational-insecure",
                                                          str((tmp_path / "data/own.jsonl").resolve())]
    assert config.persona.vectors == str((tmp_path / "vecs").resolve())


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "nope.yaml")


def test_builtin_and_example_experiments_are_valid():
    for name in BUILTIN_EXPERIMENTS:
        packaged = builtin_experiment(name)
        # examples/ carries copies of the packaged demos for reading and editing; they must not drift.
        copy = EXAMPLES / ("demo.yaml" if name == "demo" else f"{name}.yaml")
        assert load_experiment(copy) == packaged
    paper = load_experiment(EXAMPLES / "paper-scale.yaml")
    assert (paper.model, paper.backend, paper.task.n_examples, paper.audit.samples) == (
        "hf:Qwen/Qwen2.5-Coder-32B-Instruct", "vllm", 6000, 100)
    for path in EXAMPLES.glob("*.yaml"):
        if path.name == "em-0.5b-cpu.yaml" and not (EXAMPLES.parent / "runs/persona-qwen/vectors").exists():
            # It reuses vectors extracted earlier; until they exist it fails at load time, naming the fix.
            with pytest.raises(ConfigError, match="persona.vectors: .* does not exist; extract vectors first"):
                load_experiment(path)
            continue
        load_experiment(path)


def test_every_field_is_documented():
    lines = describe_fields()
    undocumented = [line for line in lines if line.rstrip().endswith("#")]
    assert not undocumented, undocumented
    assert any(line.strip().startswith("samples: 10") for line in lines)


def test_cli_help_config_and_bad_file(tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    result = CliRunner().invoke(app, ["run", "--help-config"])
    assert result.exit_code == 0
    assert "  samples: 10  #" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\naudit:\n  sampels: 3\n")
    # The entry point (tunewise.cli.main) turns a ConfigError into one red line and exit code 2.
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert isinstance(result.exception, ConfigError)
    assert f"{bad}:3: audit.sampels: unknown field; did you mean 'samples'?" in str(result.exception)


def test_api_models_make_weight_stages_not_available(tmp_path):
    # An openai: model has no local weights: train and persona say so instead of failing later;
    # the report still says what was and was not run.
    from tunewise.pipeline import Pipeline

    config = parse_experiment("name: api\nmodel: openai:m@http://127.0.0.1:9/v1\naudit: {enabled: false}\n"
                              "gate: {enabled: false}\n", "api.yaml")
    result = Pipeline(config, tmp_path / "run").run()
    status = {o.stage: (o.status, o.reason) for o in result.outcomes}
    assert status["train"][0] == "not available" and "needs the model's weights" in status["train"][1]
    assert status["persona"][0] == "not available"
    assert status["audit"] == ("disabled", "audit.enabled is false in the experiment")
    assert status["report"][0] == "done"
    page = result.report_path.read_text()
    assert "not available" in page and "needs the model&#x27;s weights" in page


def test_run_check_builds_every_section_and_runs_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tunewise.cli import app

    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.yaml"
    good.write_text("name: checked\ntrain:\n  variants: [{name: plain}]\naudit: {samples: 2}\n")
    result = CliRunner().invoke(app, ["run", str(good), "--check"])
    assert result.exit_code == 0 and "ok; would run train, audit, persona, gate, report" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: checked\npersona:\n  traits: [evill]\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--check"])
    assert isinstance(result.exception, ConfigError) and "bad.yaml:3: persona.traits" in str(result.exception)
