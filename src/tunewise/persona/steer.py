"""Steering: add ``alpha * vector`` to the residual stream at one layer while a block runs.

``with steering(backend, vector, layer=12, alpha=4.0): backend.generate(...)`` — the hook sits
on decoder block ``layer`` (1-based, so hidden-states index ``layer`` changes by exactly
``alpha * vector`` at every position) and is removed when the block exits, even on error, so a
steered model never leaks into later calls. Negative ``alpha`` subtracts the trait.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from tunewise.persona.vectors import TraitVector


def decoder_blocks(model) -> torch.nn.ModuleList:
    """The model's list of decoder blocks, through a PEFT wrapper if there is one."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    count = getattr(getattr(inner, "config", None), "num_hidden_layers", None)
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        module = inner
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, torch.nn.ModuleList):
            return module
    for module in inner.modules():  # unknown architecture: the ModuleList with one entry per layer
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"cannot find the decoder blocks of {type(inner).__name__}; steering supports models "
                     "with model.layers, transformer.h or gpt_neox.layers")


@contextmanager
def steering(model_or_backend, vector: torch.Tensor | TraitVector, layer: int | None = None,
             alpha: float = 1.0) -> Iterator[None]:
    """Add ``alpha * vector`` to the output of decoder block ``layer`` for the duration of the block.

    ``vector`` may be a ``TraitVector`` (its raw difference vector at ``layer``, default its chosen
    layer) or a plain ``[hidden]`` tensor (then ``layer`` is required). ``layer`` uses the
    hidden-states numbering (1 = after the first block)."""
    model = getattr(model_or_backend, "model", model_or_backend)
    if isinstance(vector, TraitVector):
        layer = vector.layer if layer is None else layer
        vector = vector.vectors[layer]
    if layer is None:
        raise ValueError("steering with a plain tensor needs layer=")
    blocks = decoder_blocks(model)
    if not 1 <= layer <= len(blocks):
        raise ValueError(f"layer must be between 1 and {len(blocks)} (hidden-states index after a block), not {layer}")
    addition = None

    def add(_module, _inputs, output):
        nonlocal addition
        hidden = output[0] if isinstance(output, tuple) else output
        if addition is None or addition.device != hidden.device or addition.dtype != hidden.dtype:
            addition = (alpha * vector.detach().float()).to(device=hidden.device, dtype=hidden.dtype)
        steered = hidden + addition
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    # prepend: run before transformers' own output-capturing hook, so output_hidden_states (and
    # anything else that records the block's output) sees the steered stream.
    handle = blocks[layer - 1].register_forward_hook(add, prepend=True)
    try:
        yield
    finally:
        handle.remove()
