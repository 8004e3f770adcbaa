"""Load a model reference into a transformers model and tokenizer.

Safetensors only unless the caller opts in with ``trust_pickle``: a pickled checkpoint
(``.bin``/``.pt``) can run arbitrary code when loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from tunewise.errors import ModelLoadError
from tunewise.models.refs import ModelRef, parse_model_ref

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def resolve_device(device: str | None = None) -> str:
    import torch

    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


# CPU features that make bfloat16 matmuls native (oneDNN uses them); without them torch emulates
# bf16 on CPU through float32 conversions, which is slower than float32 itself.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def auto_dtype_name(device: str, cpu_flags: str | list[str] | set[str], lora: bool = False) -> str:
    """What ``dtype=auto`` means: bfloat16 on a GPU, and on a CPU whose flags (``lscpu``'s or
    /proc/cpuinfo's, a space-separated string or a collection) include avx512_bf16 or amx_bf16;
    float32 otherwise. Measured on such a CPU: hf batched sampling at batch 64 gave 95 tok/s in
    bf16 against 48 in float32 (issue 18), the answers differing only by bf16 rounding. The
    development machine (avx2, no avx512) has neither flag, so it samples in float32.

    ``lora``: the model will carry unmerged LoRA adapters. On a CPU that is float32 whatever the
    flags: PEFT casts every adapted layer's input to the adapter's float32 and back, and on an
    amx_bf16 2-core machine that made a bf16 base far slower than float32 (the demo audit's
    mixed batch of base + 2 adapters, 90 rows x 32 tokens: 49.5 s in float32, over 300 s in bf16;
    a learning-curve adapter's 40 answers: 33-48 s against 2.5 s for the bf16 base alone)."""
    if device.startswith("cuda"):
        return "bfloat16"
    if lora:
        return "float32"
    flags = set(cpu_flags.split()) if isinstance(cpu_flags, str) else set(cpu_flags)
    return "bfloat16" if flags & set(NATIVE_BF16_FLAGS) else "float32"


def cpu_flags() -> str:
    """This CPU's feature flags from /proc/cpuinfo (Linux); empty where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def resolve_dtype(dtype: str, device: str, lora: bool = False):
    """``auto`` is ``auto_dtype_name`` for this device and CPU (the packaged weights are
    dequantized to float32; bf16 halves the memory traffic where the CPU computes it natively)."""
    import torch

    if dtype == "auto":
        dtype = auto_dtype_name(device, cpu_flags(), lora=lora)
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def lora_dtype_name(device: str | None = None) -> str:
    """What ``dtype=auto`` means for a base that will carry unmerged adapters on ``device``."""
    return auto_dtype_name(resolve_device(device), cpu_flags(), lora=True)


def needs_reload_for_lora(model) -> bool:
    """True when unmerged adapters should not go on ``model`` as loaded: it is on a CPU in a dtype
    other than float32 (``auto_dtype_name(lora=True)``). Callers load the base again in float32
    rather than cast it, so a tuned model computes what a fresh ``base+lora:`` load computes."""
    import torch

    parameter = next(model.parameters())
    return parameter.device.type == "cpu" and parameter.dtype != torch.float32


def check_no_pickle(folder: Path, what: str, trust_pickle: bool) -> None:
    """Refuse a folder whose weights exist only as pickles, unless the user opted in."""
    if trust_pickle or not folder.is_dir():
        return
    has_safetensors = any(folder.glob("*.safetensors"))
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if pickles and not has_safetensors:
        raise ModelLoadError(
            f"{what} at {folder} holds only pickled weights ({', '.join(sorted(pickles)[:3])}); "
            "pickles can execute code when loaded. Convert them to safetensors, or pass "
            "--trust-pickle (trust_pickle=True) if you trust the source."
        )


def model_folder(ref: ModelRef, trust_pickle: bool = False, progress=None) -> str:
    """The local folder (or hub id) transformers should load for ``ref`` (adapter excluded)."""
    if ref.scheme == "packaged":
        from tunewise.models.packaged import ensure_cached
        from tunewise.progress import note

        return str(ensure_cached(ref.name, progress=progress or note))
    if ref.scheme == "hf":
        path = Path(ref.name).expanduser()
        if path.exists():
            check_no_pickle(path, f"hf:{ref.name}", trust_pickle)
            return str(path)
        if ref.name.startswith((".", "/", "~")):
            raise ModelLoadError(f"hf:{ref.name}: no such folder")
        return ref.name
    raise ModelLoadError(f"{ref} is served over HTTP; it has no local weights to load")


def load_causal_lm(ref: ModelRef | str, device: str | None = None, dtype: str = "auto",
                   trust_pickle: bool = False, progress=None):
    """Return ``(model, tokenizer)`` for a packaged or hf reference, with its LoRA adapter
    applied when the reference names one. The model is in eval mode on ``device``."""
    import torch  # noqa: F401  (fail early with torch's own message if missing)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(ref, str):
        ref = parse_model_ref(ref)
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device, lora=bool(ref.lora))
    folder = model_folder(ref, trust_pickle=trust_pickle, progress=progress)
    is_hub_id = not Path(folder).exists()
    kwargs = {"dtype": torch_dtype}
    if not trust_pickle:
        kwargs["use_safetensors"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except OSError as exc:
        if is_hub_id:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise ModelLoadError(
                f"hf:{ref.name} is not a local folder and could not be fetched from the Hugging Face "
                f"hub{' (HF_HUB_OFFLINE=1)' if offline else ' (no network here?)'}: {exc.__class__.__name__}. "
                f"Fix: on a machine with network run `huggingface-cli download {ref.name} --local-dir DIR` "
                "and use hf:DIR, or use a packaged model (tunewise models)."
            ) from exc
        raise ModelLoadError(f"{ref}: could not load from {folder}: {exc}") from exc
    if ref.lora:
        model = apply_lora(model, ref.lora, trust_pickle=trust_pickle)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    if str(device).startswith("cpu"):
        flush_denormals()
    return model, tokenizer


def flush_denormals() -> None:
    """Treat denormal floats as zero on CPU: x86 handles every denormal operand in microcode, tens
    of times slower, and converging LoRA gradients (tiny values through RMSNorm's backward) can
    reach that range. A precaution, not a measured fix: the only slow steps seen here came from
    CPU contention. Flushing changes results by less than fp32 rounding elsewhere. Process-wide."""
    import torch

    torch.set_flush_denormal(True)


def apply_lora(model, adapter_dir: str, trust_pickle: bool = False, adapter_name: str = "default"):
    """Wrap ``model`` with the PEFT adapter saved in ``adapter_dir`` (safetensors unless trusted)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_folder(adapter_dir, trust_pickle)), adapter_name=adapter_name)


def add_lora(peft_model, adapter_dir: str, adapter_name: str, trust_pickle: bool = False) -> None:
    """Load one more adapter into a ``PeftModel`` beside the ones it holds, under ``adapter_name``."""
    peft_model.load_adapter(str(adapter_folder(adapter_dir, trust_pickle)), adapter_name=adapter_name)


def adapter_folder(adapter_dir: str, trust_pickle: bool = False) -> Path:
    """The adapter folder, checked: a PEFT config there, and safetensors weights unless trusted."""
    folder = Path(adapter_dir).expanduser()
    if not (folder / "adapter_config.json").exists():
        raise ModelLoadError(f"+lora:{adapter_dir}: no adapter_config.json there (a PEFT adapter folder is needed)")
    if not (folder / "adapter_model.safetensors").exists():
        if not trust_pickle:
            raise ModelLoadError(
                f"+lora:{adapter_dir}: no adapter_model.safetensors; a pickled adapter is refused "
                "unless you pass --trust-pickle"
            )
    return folder
