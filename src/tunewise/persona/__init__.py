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

from tunewise.lazy import lazy_exports

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

_modules: dict[str, tuple[str, ...]] = {}
for _name, _module in _EXPORTS.items():
    _modules[f".{_module}"] = (*_modules.get(f".{_module}", ()), _name)
__all__, __getattr__, __dir__ = lazy_exports("tunewise.persona", _modules, globals())


