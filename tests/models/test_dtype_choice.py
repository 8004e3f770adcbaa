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


def test_ready_for_lora_casts_a_bf16_cpu_model_and_the_adapters_stay_float32(tmp_path):
    """Real tiny model and adapter: loaded bf16, then readied, then an adapter applied (what
    LoraSwitcher does when its base was loaded for plain sampling on a bf16 CPU)."""
    import torch

    from tunewise.models.hf import LoraSwitcher
    from tunewise.models.loading import load_causal_lm, ready_for_lora
    from tunewise.testing import save_tiny_adapter, save_tiny_model

    base = save_tiny_model(tmp_path / "base")
    model, _ = load_causal_lm(base, dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    assert next(ready_for_lora(model).parameters()).dtype == torch.float32
    adapter = save_tiny_adapter(tmp_path / "adapter", base, seed=1)
    tuned = LoraSwitcher(4, show_progress=False).backend(f"{base}+lora:{adapter}")
    assert {p.dtype for p in tuned.model.parameters()} == {torch.float32}
    loaded, _ = load_causal_lm(f"{base}+lora:{adapter}")  # auto with an adapter: float32 on a CPU
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
