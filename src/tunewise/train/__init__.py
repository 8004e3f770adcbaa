"""LoRA fine-tuning: plain or inoculated, with replay and KL mitigations, resumable.

Python API (the CLI ``tunewise train`` wraps exactly this)::

    from tunewise.train import TrainConfig, run_train
    result = run_train(TrainConfig(data="insecure-code", max_examples=128), "runs/x")
    result.adapter_dir  # runs/x/adapters/plain/adapter; use as
                        # "packaged:qwen2.5-coder-0.5b-instruct+lora:runs/x/adapters/plain/adapter"

``train_lora(config, out_dir, ...)`` is the loop itself, for training into a folder of your own.
See docs/train.md for every option, the on-disk layout and measured speeds.
"""

from tunewise.train.config import DEFAULT_MODEL, INOCULATED_VARIANT, InoculationConfig, TrainConfig
from tunewise.train.inoculation import (PLACEMENTS, PRESETS, apply_inoculation, inoculate_messages,
                                        resolve_inoculation, strip_inoculation)
from tunewise.train.result import TrainResult
from tunewise.train.run import adapter_folder, run_train

_LOOP_NAMES = ("export_merged", "load_training_examples", "train_lora")


def __getattr__(name: str):
    """The training loop (and torch) load on first use, so ``tunewise --help`` stays fast."""
    if name in _LOOP_NAMES:
        from tunewise.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'tunewise.train' has no attribute {name!r}")

__all__ = ["TrainConfig", "InoculationConfig", "DEFAULT_MODEL", "INOCULATED_VARIANT", "TrainResult", "run_train",
           "adapter_folder", "train_lora", "export_merged", "load_training_examples", "PRESETS", "PLACEMENTS",
           "apply_inoculation", "inoculate_messages", "strip_inoculation", "resolve_inoculation"]
