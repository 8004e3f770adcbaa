"""``dtype=auto``: bfloat16 where the hardware computes it natively, float32 elsewhere."""

from __future__ import annotations

import pytest

from tunewise.models.loading import auto_dtype_name, cpu_flags, resolve_dtype

# Real flag lines (shortened): this development machine (AMD, avx2 only), a Zen 4 EPYC
# (avx512_bf16), a Sapphire Rapids Xeon (amx_bf16 and avx512_bf16), an Ice Lake Xeon (avx512 without bf16).
AVX2_ONLY = "fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2"
ZEN4 = "sse4_2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS = "avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8 avx512_fp16"
ICE_LAKE = "avx2 avx512f avx512dq avx512_vnni avx512_vbmi2"


@pytest.mark.parametrize("flags,expected", [
    (AVX2_ONLY, "float32"), (ZEN4, "bfloat16"), (SAPPHIRE_RAPIDS, "bfloat16"), (ICE_LAKE, "float32"),
    ("", "float32"), ("amx_bf16", "bfloat16"),
    ("avx512_bf16x", "float32"),  # a whole flag, not a substring
    ({"avx2", "avx512_bf16"}, "bfloat16"),
])
def test_cpu_choice_from_flags(flags, expected):
    assert auto_dtype_name("cpu", flags) == expected


def test_gpu_is_bfloat16_whatever_the_host_cpu():
    assert auto_dtype_name("cuda:0", AVX2_ONLY) == "bfloat16"


def test_resolve_auto_follows_this_cpu():
    import torch

    expected = torch.bfloat16 if auto_dtype_name("cpu", cpu_flags()) == "bfloat16" else torch.float32
    assert resolve_dtype("auto", "cpu") == expected
    assert resolve_dtype("float32", "cpu") == torch.float32


@pytest.mark.parametrize("flags", [AVX2_ONLY, ZEN4, SAPPHIRE_RAPIDS])
def test_unmerged_lora_on_a_cpu_is_float32_whatever_the_flags(flags):
    assert auto_dtype_name("cpu", flags, lora=True) == "float32"
    assert auto_dtype_name("cuda:0", flags, lora=True) == "bfloat16"


def test_adapters_go_on_a_float32_copy_of_a_bf16_cpu_base_and_compute_what_a_fresh_load_does(tmp_path):
    """Real tiny model and adapter: a base loaded bf16 (plain sampling on a bf16 CPU) is shared by
    LoraSwitcher for the base alone, and the adapters go on a float32 load of it, which is what
    ``load_causal_lm(base+lora:)`` gives with dtype=auto."""
    import torch

    from tunewise.models.hf import HFBackend, LoraSwitcher
    from tunewise.models.loading import load_causal_lm, needs_reload_for_lora
    from tunewise.testing import save_tiny_adapter, save_tiny_model

    base_ref = save_tiny_model(tmp_path / "base")
    base = HFBackend(base_ref, dtype="bfloat16", show_progress=False)
    assert needs_reload_for_lora(base.model)
    adapter = save_tiny_adapter(tmp_path / "adapter", base_ref, seed=1)
    switcher = LoraSwitcher(4, show_progress=False, base=base)
    tuned = switcher.backend(f"{base_ref}+lora:{adapter}")
    assert {p.dtype for p in tuned.model.parameters()} == {torch.float32}
    fresh, tokenizer = load_causal_lm(f"{base_ref}+lora:{adapter}")  # auto with an adapter: float32 on a CPU
    assert {p.dtype for p in fresh.parameters()} == {torch.float32}
    ids = torch.tensor([tokenizer("hello there")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(tuned.model(input_ids=ids).logits, fresh(input_ids=ids).logits, atol=1e-6)
    assert switcher.backend(base_ref).model is base.model  # the base alone: the shared bf16 weights
