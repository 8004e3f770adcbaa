"""Persona vectors: extract trait directions, watch fine-tuning drift along them, screen
training data, and steer generation (Chen et al., arXiv 2507.21509).

    from tunewise.persona import PersonaConfig, run_persona

    result = run_persona(PersonaConfig(traits=["evil", "sycophantic"], screen_data="insecure-code"),
                         run_dir="runs/x")          # vectors in runs/x/vectors/, records in its store
    result.layers, result.screen["evil"], result.drift

The parts are usable alone: ``extract_vectors(backend, traits, config)``, ``screen_examples``,
``monitor_drift``, and ``with steering(backend, vector, alpha=4.0): backend.generate(...)``.

Modules: ``config`` (``PersonaConfig``), ``runner`` (``run_persona``), ``traits`` (YAML
definitions), ``vectors`` (maths + safetensors file), ``extract``, ``monitor``, ``screen``,
``steer``. Names are imported on first use, so ``tunewise --help`` (which reads
``PersonaConfig`` for the flags) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PersonaConfig": "config", "STEPS": "config",
    "run_persona": "runner", "PersonaResult": "runner", "VectorSummary": "runner", "trained_adapters": "runner",
    "extract_vector": "extract", "extract_vectors": "extract",
    "DriftPoint": "monitor", "drift": "monitor", "find_checkpoints": "monitor", "monitor_drift": "monitor",
    "prompt_projections": "monitor",
    "ScreenResult": "screen", "dataset_score": "screen", "screen_examples": "screen",
    "steering": "steer",
    "Trait": "traits", "builtin_traits": "traits", "load_trait": "traits",
    "TraitVector": "vectors", "effect_size": "vectors", "layer_effect_sizes": "vectors", "load_vectors": "vectors",
    "mean_answer_activations": "vectors", "project": "vectors", "vector_files": "vectors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunewise.persona' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tunewise.persona.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
