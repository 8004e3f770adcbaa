"""AuditConfig: one set of defaults, models as LABEL=REF, the inoculation rule, errors that name
the file line or the flag."""

import pytest
import typer
from typer.testing import CliRunner

from tunewise.audit import AuditConfig, JudgeEvalConfig
from tunewise.audit.variants import CODE_TEMPLATE, DEFAULT_INOCULATION_PROMPT
from tunewise.config import config_command, load_config
from tunewise.errors import ConfigError
from tunewise.models.refs import DEFAULT_MODEL
from tunewise.train.inoculation import PRESETS


def test_defaults_are_the_documented_ones():
    config = AuditConfig()
    assert config.model_refs == {"base": DEFAULT_MODEL}
    assert (config.samples, config.max_tokens, config.temperature, config.judge, config.preset) == (
        10, 256, 1.0, "local", "betley")
    assert config.audited_variants() == ["plain"]
    options = config.variant_options()
    assert options.inoculation_prompt == DEFAULT_INOCULATION_PROMPT and options.training_template == CODE_TEMPLATE


def test_models_are_labelled_in_order():
    config = AuditConfig(models=["packaged:a", "tuned=hf:/runs/x=3", "hf:c"])
    assert config.model_refs == {"base": "packaged:a", "tuned": "hf:/runs/x=3", "model3": "hf:c"}
    assert config.models == ["base=packaged:a", "tuned=hf:/runs/x=3", "model3=hf:c"]
    assert AuditConfig(models=config.models) == config  # stored form validates to itself
    assert AuditConfig(models={"base": "packaged:a", "b": "hf:b"}).model_refs == {"base": "packaged:a", "b": "hf:b"}
    assert list(AuditConfig(models="hf:/only=1").model_refs) == ["base"]  # ':' before '=': a ref, not a label
    with pytest.raises(ValueError, match="label 'a' given twice"):
        AuditConfig(models=["a=hf:x", "a=hf:y"])
    with pytest.raises(ValueError, match="at least one model"):
        AuditConfig(models=[])


def test_inoculation_prompt_audits_the_inoculated_variant():
    preset = AuditConfig(inoculation_prompt="vulnerable-code", variants="json,plain,json")
    assert preset.audited_variants() == ["plain", "json", "inoculated"]
    assert preset.variant_options().inoculation_prompt == PRESETS["vulnerable-code"]
    own = AuditConfig(inoculation_prompt="You are a careless coder.", variants=["inoculated"])
    assert own.audited_variants() == ["plain", "inoculated"]
    assert own.variant_options().inoculation_prompt == "You are a careless coder."
    template = AuditConfig(training_template="Q: {question}", variants=["training"], system_prompt="Be brief.")
    assert template.variant_options().training_template == "Q: {question}"
    assert template.variant_options().system_prompt == "Be brief."


def test_bad_values_name_the_yaml_line_and_suggest(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("name: x\naudit:\n  samples: 3\n  judge: lcoal\n")
    with pytest.raises(ConfigError, match=r"experiment.yaml:4: audit.judge: unknown judge 'lcoal'; did you mean "
                                          r"'local'\?"):
        load_config(AuditConfig, path)
    path.write_text("audit:\n  sample: 3\n")
    with pytest.raises(ConfigError, match=r":2: audit.sample: unknown field; did you mean 'samples'\?"):
        load_config(AuditConfig, path)
    path.write_text("audit:\n  samples: 3\n  probes: cor\n  variants: [json]\n")
    with pytest.raises(ConfigError, match=r":3: audit.probes: unknown probe set 'cor'; did you mean 'core'\?"):
        load_config(AuditConfig, path)
    for flags, message in [({"preset": "aligned<3"}, "--preset: unknown threshold preset"),
                           ({"backend": "vlm"}, "--backend: unknown backend 'vlm'; did you mean 'vllm'"),
                           ({"variants": ["yaml"]}, "--variants: unknown probe variant 'yaml'"),
                           ({"training_template": "no slot"}, "--training-template: must contain '{question}'"),
                           ({"inoculation_prompt": " "}, "--inoculation-prompt: empty"),
                           ({"judge": "llm"}, "--judge: the llm judge needs a model"),
                           ({"samples": 0}, "--samples: Input should be greater than or equal to 1")]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("{", r"\{")):
            load_config(AuditConfig, None, flags)
    with pytest.raises(ConfigError, match="mine.yaml: no such probe set file"):  # checked before any sampling
        load_config(AuditConfig, None, {"probes": str(tmp_path / "mine.yaml")})
    (tmp_path / "mine.yaml").write_text("name: mine\nprobes:\n  - {id: a, question: q?}\n")
    assert load_config(AuditConfig, None, {"probes": str(tmp_path / "mine.yaml")}).probes.endswith("mine.yaml")


def test_generated_flags_repeat_model_and_read_the_audit_section(tmp_path):
    seen = {}
    app = typer.Typer()

    @app.command()
    @config_command(AuditConfig)
    def show(config: AuditConfig) -> None:
        seen["config"] = config

    @app.command()
    def other() -> None:  # a second command, so typer keeps "show" as a subcommand
        pass

    path = tmp_path / "experiment.yaml"
    path.write_text("audit:\n  enabled: true\n  samples: 3\n  max_tokens: 64\n  variants: [json]\n")
    out = CliRunner().invoke(app, ["show", "--model", "packaged:a", "--model", "tuned=hf:b", "--config", str(path),
                                   "--samples", "5", "--inoculation-prompt", "vulnerable-code"])
    assert out.exit_code == 0, out.output
    config = seen["config"]
    assert config.model_refs == {"base": "packaged:a", "tuned": "hf:b"}
    assert (config.samples, config.max_tokens) == (5, 64)  # flags win over the file, the file over defaults
    assert config.audited_variants() == ["plain", "json", "inoculated"]


def test_judge_eval_config():
    config = JudgeEvalConfig(labels="labels.csv")
    assert config.labels == ["labels.csv"] and (config.judge, config.preset, config.limit) == ("local", "betley", None)
    with pytest.raises(ConfigError, match="--labels: required field is missing"):
        load_config(JudgeEvalConfig, None, {})
    with pytest.raises(ConfigError, match="--judge: unknown judge"):
        load_config(JudgeEvalConfig, None, {"labels": ["x.csv"], "judge": "gpt"})


def test_audit_and_persona_accept_the_same_probe_set_references(tmp_path):
    from pydantic import ValidationError

    from tunewise.persona.config import PersonaConfig

    assert AuditConfig(probes="core+extended").probes == "core+extended"
    assert PersonaConfig(knowledge_probes="factual+core").knowledge_probes == "factual+core"
    for build in (lambda v: AuditConfig(probes=v), lambda v: PersonaConfig(knowledge_probes=v)):
        with pytest.raises(ValidationError, match="nope"):
            build("core+nope")
        with pytest.raises(ValidationError, match="no such probe set file"):
            build(str(tmp_path / "missing.yaml"))
