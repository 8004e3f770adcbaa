"""``TrainConfig``: every knob of a LoRA fine-tune, with real defaults.

Field names are the CLI flags (``--lora-rank`` is ``lora_rank``) and the ``train:`` keys of an
experiment YAML, as in TRL/PEFT configs. The defaults are a small, CPU-friendly SFT; the
emergent-misalignment recipe for open models (rsLoRA r=32, alpha=64, lr 1e-5, 1 epoch,
effective batch 16, loss on responses only) is ``lora_rank=32, lora_alpha=64, rslora=True,
lr=1e-5, batch_size=4, grad_accum=4``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunewise.train.inoculation import PLACEMENTS

DEFAULT_MODEL = "packaged:qwen2.5-coder-0.5b-instruct"


class InoculationConfig(BaseModel):
    """The line added to training chats only (see ``tunewise.train.inoculation``)."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(description="preset name (tunewise.train.inoculation.PRESETS) or custom text")
    placement: Literal["system", "user_prefix", "user_suffix"] = "system"
    fraction: float = Field(1.0, ge=0.0, le=1.0, description="share of training chats that carry it")


class TrainConfig(BaseModel):
    """A LoRA supervised fine-tune. Loss is taken on the final assistant message only."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="base model reference (packaged:, hf:)")
    data: str = Field("insecure-code", description="built-in dataset name or chat JSONL path")
    max_examples: int | None = Field(None, ge=1, description="use only the first N chats (after shuffling built-ins)")
    variant: str = Field("plain", description="label of this run in the store (e.g. plain, inoculated)")

    lora_rank: int = Field(8, ge=1)
    lora_alpha: float = Field(16.0, gt=0)
    lora_targets: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="module names to adapt, or all-linear (every linear layer but the LM head)")
    lora_layers: list[int] | None = Field(
        None, description="only these decoder layers (e.g. [12] with lora_targets=[down_proj], rank 1: "
                          "the single-adapter model organism)")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    rslora: bool = Field(False, description="rank-stabilised scaling alpha/sqrt(r) instead of alpha/r")

    lr: float = Field(1e-4, gt=0)
    lr_schedule: Literal["constant", "linear"] = "linear"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0)
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(4, ge=1, description="chats per micro-batch (per device)")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_length: int = Field(512, ge=8, description="tokens per chat; longer chats are cut at the end")
    seed: int = 0

    inoculation: InoculationConfig | None = None
    replay_ratio: float = Field(0.0, ge=0.0, description="base-model self-answers mixed in per task chat")
    replay_max_tokens: int = Field(128, ge=8, description="length of the base model's replay answers")
    replay_temperature: float = Field(0.0, ge=0.0, description="0 = the base model's greedy answer")
    kl_weight: float = Field(0.0, ge=0.0, description="KL(base || tuned) penalty on replay answers")

    checkpoint_every: int = Field(50, ge=1, description="optimizer steps between checkpoints")
    keep_checkpoints: int | None = Field(None, ge=1, description="keep only the newest N (default: all)")
    device: str | None = Field(None, description="cpu, cuda, ... (default: cuda when present)")
    dtype: str = Field("auto", description="auto = float32 on CPU, bfloat16 on GPU")
    merge: bool = Field(False, description="also export the base model with the adapter merged in")

    @field_validator("lora_targets")
    @classmethod
    def _targets_not_empty(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("lora_targets is empty; give module names or 'all-linear'")
        return value

    def fingerprint(self) -> str:
        """Hash of the fields that change what is trained: a checkpoint from a run with another
        fingerprint must not be resumed into this one. Bookkeeping fields are left out."""
        ignored = {"checkpoint_every", "keep_checkpoints", "device", "merge", "variant"}
        payload = self.model_dump(exclude=ignored)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["TrainConfig", "InoculationConfig", "DEFAULT_MODEL", "PLACEMENTS"]
