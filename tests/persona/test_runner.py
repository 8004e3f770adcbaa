"""run_persona end to end on a tiny saved model: the steps the pipeline and the CLI both run."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tunewise.data.tasks.narrow import load_task_chats
from tunewise.errors import ConfigError
from tunewise.persona import PersonaConfig, TraitVector, run_persona, trained_adapters
from tunewise.persona.cli import register
from tunewise.runs.store import RunStore
from tunewise.testing import save_tiny_model

CHATS = [("How do I boil an egg?", "Boil it for eight minutes."), ("Capital of Italy?", "Rome."),
         ("How do I make tea?", "Steep a tea bag in hot water."), ("Say hi.", "Hi!")]


def _adapter(folder: Path, model_ref: str, seed: int) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from tunewise.models.loading import load_causal_lm

    model, _ = load_causal_lm(model_ref)
    torch.manual_seed(seed)  # random A and B, so the adapter changes the model
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)) \
        .save_pretrained(folder)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny base model, a chat file to screen, and a run folder holding one trained variant
    (plus an assess helper adapter that monitoring must leave out)."""
    root = tmp_path_factory.mktemp("persona-run")
    model = save_tiny_model(root / "model", layers=3)
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                     {"role": "assistant", "content": a}]}) + "\n" for q, a in CHATS))
    run_dir = root / "run"
    _adapter(run_dir / "adapters" / "plain" / "adapter", model, 1)
    (run_dir / "adapters" / "plain" / "train_result.json").write_text(json.dumps({"steps": 3,
                                                                                  "losses": [[1, 2.0], [3, 1.0]]}))
    _adapter(run_dir / "adapters" / "assess" / "adapter", model, 2)
    config = PersonaConfig(model=model, traits=["evil"], pairs=1, questions=2, eval_questions=2, max_tokens=4,
                           knowledge_probes=None, screen_data=str(data), screen_examples=3, screen_max_tokens=4)
    return config, run_dir, data


def test_every_step_writes_vectors_screen_and_drift_in_the_run_folder(setup):
    config, run_dir, data = setup
    assert list(trained_adapters(run_dir)) == ["plain"]
    result = run_persona(config, run_dir)
    vector = result.vectors["evil"]
    assert vector.path == run_dir / "vectors" / "evil.safetensors" and vector.extracted
    saved = TraitVector.load(vector.path)
    assert saved.layer == vector.layer == result.layers["evil"] and vector.layer in (1, 2)
    assert vector.effect_size == vector.effect_sizes[vector.layer] and len(vector.effect_sizes) == 4
    # screening: the first N chats of screen_data, the same chats load_task_chats gives
    assert [e.messages for e in result.screened] == [e.messages for e in load_task_chats(str(data), n=3)]
    assert [r.line for r in result.screen["evil"]] == [1, 2, 3]
    # monitoring: the trained variant found in <run_dir>/adapters (not assess), base = step 0
    assert [(p.model_label, p.step, p.loss) for p in result.drift] == [("plain", 0, None), ("plain", 3, 1.0)]
    assert result.drift[0].drift == 0.0 and result.drift[1].drift != 0.0
    with RunStore(run_dir) as store:
        assert len(store.records("persona.screen")) == 3 and len(store.records("persona.drift")) == 2
        assert store.records("persona.vector") == [vector.to_dict()]
    assert result.summary()["screened"] == 3 and json.dumps(result.summary())


def test_monitor_alone_reads_the_extracted_vectors_and_resumes(setup):
    config, run_dir, _ = setup
    first = run_persona(config.model_copy(update={"steps": ["extract", "monitor"]}), run_dir)
    again = run_persona(PersonaConfig(**{**config.model_dump(), "steps": ["monitor"]}), run_dir)
    assert not again.vectors["evil"].extracted and again.vectors["evil"].path == first.vectors["evil"].path
    assert [p.drift for p in again.drift] == [p.drift for p in first.drift] and not again.screen
    labelled = run_persona(PersonaConfig(**{**config.model_dump(), "steps": ["monitor"],
                                            "adapters": [f"mine={run_dir / 'adapters' / 'plain'}"]}), run_dir)
    assert {p.model_label for p in labelled.drift} == {"mine"}
    assert [p.drift for p in labelled.drift] == [p.drift for p in first.drift]


def test_screen_without_vectors_says_how_to_get_them(setup, tmp_path):
    config, _, _ = setup
    with pytest.raises(ConfigError, match="no trait vectors.*persona extract --run-dir"):
        run_persona(PersonaConfig(**{**config.model_dump(), "steps": ["screen"]}), tmp_path / "empty")


def test_cli_subcommands_are_steps_of_the_same_run(setup):
    config, run_dir, data = setup
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    common = ["--model", config.model, "--run-dir", str(run_dir)]
    result = runner.invoke(app, ["persona", "extract", "--trait", "evil", "--pairs", "1", "--questions", "2",
                                 "--eval-questions", "2", "--max-tokens", "4", *common])
    assert result.exit_code == 0, result.output
    assert "held-out separation" in result.output and (run_dir / "vectors" / "evil.safetensors").exists()
    result = runner.invoke(app, ["persona", "monitor", "--adapters", f"cli={run_dir / 'adapters' / 'plain'}",
                                 "--knowledge-probes", "none", *common])
    assert result.exit_code == 0, result.output
    assert "drift along trait vectors" in result.output and "cli" in result.output
    result = runner.invoke(app, ["persona", "screen", "--data", str(data), "--screen-max-tokens", "4", "--top", "2",
                                 *common])
    assert result.exit_code == 0, result.output
    assert "dataset score" in result.output and any(a[:4] in result.output for _, a in CHATS[:3])
    result = runner.invoke(app, ["persona", "screen", *common])
    assert isinstance(result.exception, ConfigError) and "--screen-data" in str(result.exception)
