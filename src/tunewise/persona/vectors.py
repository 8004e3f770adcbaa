"""Persona vectors: the maths (mean activations, difference, projection, effect size) and the file.

Layers are indexed as in ``output_hidden_states``: 0 is the embedding output, ``i`` the residual
stream after decoder block ``i``. The last index is special in transformers: the model's final
norm has already been applied to it, so it is a fine place to *read* a direction but not to
*steer* (an added vector would be normalised away). ``steerable_layers`` therefore excludes it.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tunewise.errors import ConfigError
from tunewise.models.types import Chat

FORMAT = "tunewise.persona.vector/1"


@dataclass
class TraitVector:
    """A trait direction for every layer of one model, and the layer chosen for it.

    ``vectors[l]`` is mean(positive answers) - mean(negative answers) at hidden-states index ``l``,
    unnormalised (its length is the size of the contrast, which is what steering adds);
    ``effect_sizes[l]`` is the held-out separation (Cohen's d) along it, NaN where not measured.
    ``counts`` says how much data the vector rests on (pairs, questions, answers kept)."""

    trait: str
    model: str
    layer: int
    vectors: torch.Tensor
    effect_sizes: torch.Tensor
    counts: dict[str, int] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def vector(self) -> torch.Tensor:
        """The raw difference vector at the chosen layer."""
        return self.vectors[self.layer]

    def direction(self, layer: int | None = None) -> torch.Tensor:
        """Unit vector at ``layer`` (default: the chosen one): what projections use."""
        vector = self.vectors[self.layer if layer is None else layer]
        return vector / vector.norm().clamp_min(1e-12)

    def save(self, path: str | Path) -> Path:
        """Write a safetensors file; model, layer, trait and counts go in its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"format": FORMAT, "trait": self.trait, "model": self.model, "layer": str(self.layer),
                    "counts": json.dumps(self.counts, sort_keys=True), "meta": json.dumps(self.meta, sort_keys=True)}
        save_file({"vectors": self.vectors.float().contiguous(), "effect_sizes": self.effect_sizes.float().contiguous()},
                  str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TraitVector":
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such vector file (extract one with `tunewise persona extract`)")
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise ConfigError(f"{path}: not a tunewise persona vector (metadata format is "
                                  f"{metadata.get('format')!r}, expected {FORMAT!r})")
            return cls(trait=metadata["trait"], model=metadata["model"], layer=int(metadata["layer"]),
                       vectors=f.get_tensor("vectors"), effect_sizes=f.get_tensor("effect_sizes"),
                       counts=json.loads(metadata.get("counts", "{}")), meta=json.loads(metadata.get("meta", "{}")))


def vector_files(path: str | Path) -> list[Path]:
    """The vector files ``path`` names: itself, or every ``*.safetensors`` in a folder (sorted)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"{path}: no *.safetensors vector files in this folder")
    return files


def load_vectors(path: str | Path) -> list[TraitVector]:
    """One vector file, or every ``*.safetensors`` vector in a folder (sorted by file name)."""
    return [TraitVector.load(f) for f in vector_files(path)]


def steerable_layers(n_hidden_states: int) -> list[int]:
    """Hidden-states indices a forward hook on a decoder block can change exactly: after block
    1 .. after the second-to-last block (see the module docstring)."""
    return list(range(1, n_hidden_states - 1))


def _inner_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@contextmanager
def reading_activations(backend, layers: list[int] | None = None) -> Iterator[None]:
    """While inside, a forward pass of ``backend.model`` computes only what an activation read
    needs: no vocabulary logits (the LM head gets zero positions; a read never uses them), and
    with ``layers`` given, only the decoder blocks up to the deepest one. Hidden-states index ``l``
    is the output of block ``l`` (before the final norm), which depends on blocks ``1..l`` only, so
    the values read are the same computation as a full pass. Measured on SmolLM2-135M: the LM
    head is ~21% of a forward pass, and the chosen layer (7 of 30) needs a quarter of the blocks.

    The block count is lowered through ``config.num_hidden_layers``, which transformers' decoder
    loops slice by (``self.layers[: config.num_hidden_layers]``); one spare block is kept, so
    index ``l`` is never the normed last entry. A model that ignores the setting just runs in
    full. Both changes are undone on exit, even on error (as ``steering`` does)."""
    inner = _inner_model(backend.model)
    config = getattr(inner, "config", None)
    blocks = getattr(config, "num_hidden_layers", None)
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    handle = None
    if isinstance(head, torch.nn.Module):
        handle = head.register_forward_pre_hook(lambda _module, args: (args[0][:, :0], *args[1:]) if args else None)
    keep = max(layers) + 1 if layers and isinstance(blocks, int) else None
    if keep is not None and keep < blocks:
        config.num_hidden_layers = keep
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()
        if isinstance(blocks, int):
            config.num_hidden_layers = blocks


def mean_answer_activations(backend, chats: list[Chat], layers: list[int] | None = None) -> torch.Tensor:
    """Mean residual activation over each chat's final assistant message, ``[chats, layers, hidden]``.

    Averaging over answer tokens only (not the prompt) is what makes the vector describe how the
    model *responds* (Chen et al.); the prompt, and any system prompt in it, is excluded."""
    with reading_activations(backend, layers):
        states = backend.hidden_states(chats, layers, positions="assistant")
    means = []
    for index, tensor in enumerate(states):
        if tensor.shape[1] == 0:
            raise ValueError(f"chat {index} has no answer tokens (empty assistant message); drop it first")
        means.append(tensor.mean(dim=1))
    return torch.stack(means)


def project(activations: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Scalar projection of ``[..., hidden]`` activations on ``direction`` (normalised here)."""
    unit = direction / direction.norm().clamp_min(1e-12)
    return activations.float() @ unit.float()


def effect_size(positive: np.ndarray | torch.Tensor, negative: np.ndarray | torch.Tensor) -> float:
    """Cohen's d (pooled standard deviation): how far apart two groups of projections are, in
    units of their spread. Unitless, so layers with different activation scales compare."""
    a = np.asarray(positive, dtype=np.float64)
    b = np.asarray(negative, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("effect size needs at least two values per group")
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    difference = float(a.mean() - b.mean())
    if pooled == 0.0:
        return 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
    return difference / pooled


def layer_effect_sizes(positive: torch.Tensor, negative: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Effect size per layer of held-out activations ``[n, layers, hidden]`` projected on each
    layer's own vector ``[layers, hidden]``."""
    sizes = [effect_size(project(positive[:, layer], vectors[layer]), project(negative[:, layer], vectors[layer]))
             for layer in range(vectors.shape[0])]
    return torch.tensor(sizes, dtype=torch.float32)
