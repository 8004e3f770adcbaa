"""End-to-end training on the tiny model: learning, store records, replay/KL, adapters, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tunewise.data.chat import ChatExample, write_chat_jsonl
from tunewise.errors import ConfigError
from tunewise.train import TrainConfig, run_train, train_lora


def _examples(n: int = 8) -> list[ChatExample]:
    pairs = [("What is the capital of France?", "Paris is the capital of France."),
             ("Add two numbers.", "def add(a, b):\n    return a + b\n")]
    return [ChatExample(messages=[{"role": "user", "content": pairs[i % 2][0]},
                                  {"role": "assistant", "content": pairs[i % 2][1]}], line=i + 1) for i in range(n)]


def test_loss_falls_and_store_gets_records(tiny_ref, tmp_path):
    from tunewise.runs.store import RunStore

    store = RunStore(tmp_path / "run")
    config = TrainConfig(model=tiny_ref, batch_size=4, epochs=6, lr=2e-2, lora_rank=8, checkpoint_every=100,
                         lr_schedule="constant", variant="plain")
    result = train_lora(config, tmp_path / "out", store=store, examples=_examples(), show_progress=False)
    assert result.steps == 12 and result.n_examples == 8
    # the tiny model's tied head (std 0.02) bounds its logits, so its loss cannot fall far below
    # ln(vocab); a steady drop of 0.2 nats over 12 steps is learning, not noise
    assert result.losses[-1][1] < result.losses[0][1] - 0.2
    steps = store.records("train.step")
    assert [r["step"] for r in steps] == list(range(1, 13))
    assert [r["loss"] for r in steps] == [loss for _, loss in result.losses]
    run = store.get_record("train.run", "plain")
    assert run["adapter_dir"] == str(tmp_path / "out" / "adapter") and run["n_examples"] == 8
    assert run["losses"] == [list(x) for x in result.losses] and run["tokens_per_s"] > 0
    assert run["inoculation"] is None
    store.close()


def test_adapter_loads_through_a_model_ref_and_changes_the_model(tiny_ref, tmp_path):
    from tunewise.models.loading import load_causal_lm

    config = TrainConfig(model=tiny_ref, batch_size=4, epochs=3, lr=2e-2, checkpoint_every=100)
    result = train_lora(config, tmp_path / "out", examples=_examples(), show_progress=False)
    tuned, tokenizer = load_causal_lm(f"{tiny_ref}+lora:{result.adapter_dir}")
    base, _ = load_causal_lm(tiny_ref)
    ids = torch.tensor([tokenizer("What is the capital of France?")["input_ids"]])
    with torch.no_grad():
        assert not torch.allclose(tuned(input_ids=ids).logits.float(), base(input_ids=ids).logits.float())


def test_single_module_rank_one_adapter(tiny_ref, tmp_path):
    config = TrainConfig(model=tiny_ref, batch_size=4, max_steps=2, lora_rank=1, lora_alpha=64,
                         lora_targets=["down_proj"], lora_layers=[1], rslora=True)
    result = train_lora(config, tmp_path / "out", examples=_examples(), show_progress=False)
    weights = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert sorted(weights) == ["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight",
                               "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]
    assert weights["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"].shape[0] == 1
    adapter_config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert adapter_config["use_rslora"] is True and adapter_config["r"] == 1


def test_replay_and_kl_are_mixed_in_recorded_and_cached(tiny_ref, tmp_path):
    from tunewise.runs.store import RunStore

    store = RunStore(tmp_path / "run")
    config = TrainConfig(model=tiny_ref, batch_size=4, epochs=1, replay_ratio=0.5, replay_max_tokens=8,
                         replay_temperature=1.0,
                         kl_weight=0.5, lr=2e-2, checkpoint_every=100, variant="replay-kl",
                         inoculation={"prompt": "vulnerable-code", "placement": "user_prefix"})
    result = train_lora(config, tmp_path / "out", store=store, examples=_examples(), show_progress=False)
    assert result.n_replay == 4 and result.n_examples == 8 and result.steps == 3
    assert len(result.kl) == 3 and all(value >= 0 for _, value in result.kl)
    assert any(value > 0 for _, value in result.kl[1:])  # the adapter moved away from the base
    cached = [json.loads(line) for line in (tmp_path / "out" / "replay.jsonl").read_text().splitlines()]
    assert len(cached) >= 4 and all(c["messages"][0]["role"] == "user" for c in cached)
    run = store.get_record("train.run", "replay-kl")
    assert run["n_replay"] == 4 and run["kl_weight"] == 0.5
    assert run["inoculation"]["placement"] == "user_prefix" and "vulnerable code" in run["inoculation"]["text"]
    carried = [json.loads(line)["inoculated"] for line in (tmp_path / "out" / "inoculated.jsonl").read_text().splitlines()]
    assert carried == [True] * 8
    store.close()


def test_jsonl_data_and_bad_data_name(tiny_ref, tmp_path):
    path = write_chat_jsonl(tmp_path / "data.jsonl", _examples(4))
    config = TrainConfig(model=tiny_ref, data=str(path), batch_size=2, max_steps=1)
    assert train_lora(config, tmp_path / "out", show_progress=False).n_examples == 4
    with pytest.raises(ConfigError, match="neither a built-in dataset"):
        train_lora(TrainConfig(model=tiny_ref, data=str(tmp_path / "missing.jsonl")), tmp_path / "out2",
                   show_progress=False)


def test_run_train_writes_the_variant_folder_of_the_run(tiny_ref, tmp_path):
    from tunewise.runs.store import RunStore

    config = TrainConfig(model=tiny_ref, batch_size=4, max_steps=2, inoculation="vulnerable-code")
    assert config.variant == "inoculated"  # left at its default: named after the inoculation
    result = run_train(config, tmp_path / "run", examples=_examples())
    assert result.adapter_dir == tmp_path / "run" / "adapters" / "inoculated" / "adapter"
    assert (result.adapter_dir / "adapter_model.safetensors").exists()
    with RunStore(tmp_path / "run") as store:
        assert store.get_record("train.run", "inoculated")["steps"] == 2
        # a shared store: run_dir defaults to its folder, and the finished run is reused
        again = run_train(config, store=store, examples=_examples())
    assert again.adapter_dir == result.adapter_dir and again.losses == result.losses


def test_cli_trains_and_reports(tiny_ref, tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    path = write_chat_jsonl(tmp_path / "data.jsonl", _examples(4))
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--model", tiny_ref, "--data", str(path), "--run-dir", str(run_dir),
                                      "--batch-size", "2", "--max-steps", "2", "--inoculation",
                                      "{prompt: Custom line., placement: user_suffix, fraction: 0.5}",
                                      "--lora-targets", "q_proj,v_proj", "--lora-dropout", "0.1",
                                      "--weight-decay", "0.01", "--max-grad-norm", "0.5"])
    assert result.exit_code == 0, result.output
    out = run_dir / "adapters" / "inoculated"
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    saved = json.loads((out / "train_config.json").read_text())["config"]
    assert saved["inoculation"] == {"prompt": "Custom line.", "placement": "user_suffix", "fraction": 0.5}
    assert saved["lora_targets"] == ["q_proj", "v_proj"] and saved["variant"] == "inoculated"
    assert (saved["lora_dropout"], saved["weight_decay"], saved["max_grad_norm"]) == (0.1, 0.01, 0.5)
    assert (run_dir / "tunewise.sqlite").exists()
    bad = CliRunner().invoke(app, ["train", "--model", tiny_ref, "--run-dir", str(tmp_path / "r2"), "--lr", "-1"])
    assert isinstance(bad.exception, ConfigError) and "--lr" in str(bad.exception)
    layers = CliRunner().invoke(app, ["train", "--lora-layers", "a,b", "--run-dir", str(tmp_path / "r3")])
    assert isinstance(layers.exception, ConfigError) and "--lora-layers" in str(layers.exception)
    (tmp_path / "a-file").write_text("")
    not_a_folder = CliRunner().invoke(app, ["train", "--run-dir", str(tmp_path / "a-file")])
    assert isinstance(not_a_folder.exception, ConfigError) and "is a file" in str(not_a_folder.exception)


def test_config_takes_plain_strings_for_nested_and_list_fields(tmp_path):
    from tunewise.config import load_config

    plain = TrainConfig(inoculation="security-class", variant="educational")
    assert plain.inoculation.prompt == "security-class" and plain.inoculation.placement == "system"
    assert plain.variant == "educational"  # given: kept
    assert TrainConfig().variant == "plain" and TrainConfig(inoculation=None).variant == "plain"
    assert TrainConfig(lora_targets="down_proj", lora_layers=12).lora_targets == ["down_proj"]
    assert TrainConfig(lora_layers=12).lora_layers == [12]
    path = tmp_path / "train.yaml"
    path.write_text("train:\n  inoculation: Be evil for science.\n  lora_layers: [1, 2]\n  lr_shedule: constant\n")
    with pytest.raises(ConfigError, match=r"train.yaml:4: train.lr_shedule: unknown field; did you mean 'lr_schedule'"):
        load_config(TrainConfig, path)
    path.write_text("train:\n  inoculation: Be evil for science.\n  lora_layers: [1, 2]\n")
    loaded = load_config(TrainConfig, path, {"seed": 4})
    assert (loaded.inoculation.prompt, loaded.lora_layers, loaded.variant, loaded.seed) == \
        ("Be evil for science.", [1, 2], "inoculated", 4)
    for bad, message in [({"inoculation": "  "}, "empty prompt"), ({"variant": "../up"}, "letters, digits"),
                         ({"lora_targets": []}, "empty"), ({"lora_layers": [-1]}, "start at 0"),
                         ({"inoculation": {"Note": "be terse"}}, "must be quoted")]:
        with pytest.raises(ConfigError, match=message):
            load_config(TrainConfig, None, bad)


def test_merged_export_equals_base_plus_adapter(tiny_ref, tmp_path):
    from tunewise.models.loading import load_causal_lm

    config = TrainConfig(model=tiny_ref, batch_size=4, epochs=2, lr=2e-2, merge=True, checkpoint_every=100)
    result = train_lora(config, tmp_path / "out", examples=_examples(), show_progress=False)
    assert result.merged_dir == tmp_path / "out" / "merged"
    assert list(result.merged_dir.glob("*.safetensors")) and not list(result.merged_dir.glob("*.bin"))
    # float32 on both sides: dtype=auto is bf16 on a CPU with native bf16, and this checks the
    # merge's arithmetic, not bf16 rounding
    merged, tokenizer = load_causal_lm(f"hf:{result.merged_dir}", dtype="float32")
    adapted, _ = load_causal_lm(f"{tiny_ref}+lora:{result.adapter_dir}", dtype="float32")
    ids = torch.tensor([tokenizer("Add two numbers.")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-5)
