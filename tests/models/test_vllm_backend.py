"""The parts of the vllm backend that run without vLLM: making a folder vLLM can load, deciding
whether a LoRA adapter can be served as is, and the merged base+adapter fallback (checked
against PEFT's own forward pass on a tiny model). The engine itself runs in ``.venv-vllm``:
``benchmarks/sampling.py`` drives it end to end, and the openai tests use its server."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from tunewise.errors import ModelLoadError
from tunewise.models.vllm_backend import lora_servable, merged_lora_folder, vllm_ready_folder
from tunewise.testing import save_tiny_model, tiny_model


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWISE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_gguf_quantization_config_is_dropped_in_a_cached_view(tmp_path, cache):
    ref = save_tiny_model(tmp_path / "model")
    folder = tmp_path / "model"
    assert vllm_ready_folder(folder) == folder.resolve()  # already loadable: used as is
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False}
    (folder / "config.json").write_text(json.dumps(config))
    view = vllm_ready_folder(folder)
    assert view.parent == cache / "vllm"
    cleaned = json.loads((view / "config.json").read_text())
    assert "quantization_config" not in cleaned and cleaned["hidden_size"] == config["hidden_size"]
    assert (view / "model.safetensors").resolve() == (folder / "model.safetensors").resolve()
    assert vllm_ready_folder(folder) == view  # built once
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(view).config.hidden_size == config["hidden_size"], ref


def test_tied_embedding_saved_as_lm_head_gets_its_own_name(tmp_path, cache):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from tunewise.models.vllm_backend import EMBED_KEY, TIED_EMBEDDINGS_FILE

    save_tiny_model(tmp_path / "model")
    folder = tmp_path / "model"
    weights = folder / "model.safetensors"
    with safe_open(str(weights), "pt") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}
    # The packaged cache's layout: the tied embedding stored only as lm_head.weight.
    state["lm_head.weight"] = state.pop(EMBED_KEY)
    save_file(state, str(weights), metadata={"format": "pt"})
    view = vllm_ready_folder(folder)
    assert view != folder.resolve()
    with safe_open(str(view / TIED_EMBEDDINGS_FILE), "pt") as handle:
        assert list(handle.keys()) == [EMBED_KEY]
        assert torch.equal(handle.get_tensor(EMBED_KEY), state["lm_head.weight"])


def test_lora_servable_reasons():
    assert lora_servable({"peft_type": "LORA", "r": 8, "bias": "none"}) is None
    assert "DoRA" in lora_servable({"peft_type": "LORA", "r": 8, "use_dora": True})
    assert "modules_to_save" in lora_servable({"r": 8, "modules_to_save": ["lm_head"]})
    assert "rank" in lora_servable({"r": 1024})


def _save_adapter(folder):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny_model()
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(folder)
    return peft_model


def test_merged_lora_matches_peft_forward(tmp_path, cache):
    from transformers import AutoModelForCausalLM

    from tunewise.models import parse_model_ref
    from tunewise.models.loading import load_causal_lm

    base = save_tiny_model(tmp_path / "base")
    _save_adapter(tmp_path / "adapter")
    ref = parse_model_ref(f"{base}+lora:{tmp_path / 'adapter'}")
    merged_dir = merged_lora_folder(ref)
    assert merged_dir.parent == cache / "merged" and (merged_dir / "model.safetensors").exists()
    assert merged_lora_folder(ref) == merged_dir  # cached by base + adapter bytes
    # float32 on both sides: dtype=auto is bf16 on a CPU with native bf16, and this checks the merge's
    # arithmetic, not bf16 rounding
    peft_model, tokenizer = load_causal_lm(ref, dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer("The quick brown fox")["input_ids"]])
    with torch.no_grad():
        expected, got = peft_model(input_ids=ids).logits, merged(input_ids=ids).logits
        plain = load_causal_lm(base, dtype="float32")[0](input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-4)
    assert not torch.allclose(plain, got, atol=1e-3)  # the adapter really changed the model


def test_missing_adapter_is_a_clear_error(tmp_path, cache):
    from tunewise.models import parse_model_ref

    base = save_tiny_model(tmp_path / "base")
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        merged_lora_folder(parse_model_ref(f"{base}+lora:{tmp_path / 'nothing'}"))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed in this venv")
def test_without_vllm_the_backend_says_how_to_install(tmp_path):
    from tunewise.models import load_backend

    with pytest.raises(ModelLoadError, match="make .venv-vllm"):
        load_backend(save_tiny_model(tmp_path / "model"), backend="vllm")


def test_auto_dtype_avoids_emulated_bf16_on_cpu():
    from tunewise.models.vllm_backend import cpu_has_bf16, resolve_vllm_dtype

    assert resolve_vllm_dtype("auto", on_cpu=False) == "bfloat16"
    assert resolve_vllm_dtype("float16", on_cpu=True) == "float16"
    assert resolve_vllm_dtype("auto", on_cpu=True) == ("bfloat16" if cpu_has_bf16() else "float32")
