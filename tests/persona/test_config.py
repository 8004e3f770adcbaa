"""PersonaConfig: one model for Python, flags and the experiment file; bad names fail when the
config is built (before training), not when the persona stage reaches them."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from tunewise.config import load_config
from tunewise.errors import ConfigError
from tunewise.persona import STEPS, PersonaConfig
from tunewise.registry import TRAITS


def test_defaults_are_the_cpu_sized_budget():
    config = PersonaConfig()
    assert (config.traits, config.pairs, config.questions, config.eval_questions, config.samples, config.max_tokens,
            config.temperature, config.seed, config.batch_size) == (["evil"], 2, 6, 6, 1, 48, 0.7, 0, 64)
    assert (config.knowledge_probes, config.screen_data, config.screen_examples, config.screen_max_tokens,
            config.flag_z, config.adapters, config.steps) == ("factual", None, 40, 64, 3.0, None, list(STEPS))
    assert not config.screening  # nothing to screen until screen_data is given


def test_zero_means_every_question_like_the_old_cli():
    config = PersonaConfig(pairs=0, questions=0, eval_questions=None)
    assert (config.pairs, config.questions, config.eval_questions) == (None, None, None)


def test_unknown_trait_fails_at_validation_naming_the_registered_ones():
    with pytest.raises(ValidationError, match="unknown trait 'grumpy'.*evil"):
        PersonaConfig(traits=["evil", "grumpy"])
    config = PersonaConfig(traits=["all"])
    assert config.traits == TRAITS.names()
    with pytest.raises(ValidationError, match="unknown trait"):
        config.traits = ["grumpy"]  # also when a pipeline assigns it


def test_trait_yaml_paths_are_loaded_and_checked(tmp_path: Path):
    good = tmp_path / "kind.yaml"
    good.write_text("name: kind\ndescription: x\npairs: [{express: a, suppress: b}]\n"
                    "extraction_questions: [q1, q2]\nevaluation_questions: [q3, q4]\n")
    assert PersonaConfig(traits=[str(good)]).traits == [str(good)]
    with pytest.raises(ValidationError, match="no such trait file"):
        PersonaConfig(traits=[str(tmp_path / "missing.yaml")])


def test_missing_vectors_and_unknown_data_fail_early(tmp_path: Path):
    with pytest.raises(ValidationError, match="does not exist; extract vectors first"):
        PersonaConfig(vectors=str(tmp_path / "nowhere"))
    with pytest.raises(ValidationError, match="neither a built-in dataset"):
        PersonaConfig(screen_data="insecure-cod")
    with pytest.raises(ValidationError, match="unknown probe set"):
        PersonaConfig(knowledge_probes="factuall")
    assert PersonaConfig(knowledge_probes="none").knowledge_probes is None
    assert PersonaConfig(screen_data="insecure-code").screening


def test_adapters_accept_label_equals_dir_lists_and_mappings():
    expected = {"insecure": "runs/x/adapters/insecure", "edu": "runs/x/adapters/edu"}
    assert PersonaConfig(adapters=["insecure=runs/x/adapters/insecure", "edu=runs/x/adapters/edu"]).adapters == expected
    assert PersonaConfig(adapters="insecure=runs/x/adapters/insecure,edu=runs/x/adapters/edu").adapters == expected
    assert PersonaConfig(adapters=expected).adapters == expected
    with pytest.raises(ValidationError, match="expected LABEL=DIR"):
        PersonaConfig(adapters=["runs/x/adapters/insecure"])
    with pytest.raises(ValidationError, match="given twice"):
        PersonaConfig(adapters=["a=x", "a=y"])


def test_steps_are_checked_and_run_in_pipeline_order():
    assert PersonaConfig(steps=["monitor", "extract"]).steps == ["extract", "monitor"]
    assert PersonaConfig(steps="screen").steps == ["screen"]
    with pytest.raises(ValidationError, match="unknown step 'train'"):
        PersonaConfig(steps=["train"])


def test_experiment_section_with_enabled_loads_and_names_the_line(tmp_path: Path):
    path = tmp_path / "experiment.yaml"
    path.write_text("name: x\npersona:\n  enabled: true\n  traits: [evil, deceptive]\n  screen_examples: 16\n")
    config = load_config(PersonaConfig, path, flags={"max_tokens": 32})
    assert (config.traits, config.screen_examples, config.max_tokens) == (["evil", "deceptive"], 16, 32)
    path.write_text("persona:\n  traits: [evil]\n  sampels: 3\n")
    with pytest.raises(ConfigError, match=r"experiment\.yaml:3: .*sampels.*samples"):
        load_config(PersonaConfig, path)

