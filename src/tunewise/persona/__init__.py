"""Persona vectors: extract trait directions, watch fine-tuning drift along them, screen
training data, and steer generation (Chen et al., arXiv 2507.21509).

    from tunewise.models.hf import HFBackend
    from tunewise.persona import extract_vectors, monitor_drift, screen_examples, steering

    backend = HFBackend("packaged:qwen2.5-coder-0.5b-instruct")
    vectors = extract_vectors(backend, ["evil", "sycophantic"], out_dir="runs/x/vectors")
    with steering(backend, vectors["evil"], alpha=4.0):
        backend.generate(...)

Modules: ``traits`` (YAML definitions), ``vectors`` (maths + safetensors file), ``extract``,
``monitor``, ``screen``, ``steer``.
"""

from tunewise.persona.extract import ExtractionBudget, extract_vector, extract_vectors
from tunewise.persona.monitor import DriftPoint, drift, find_checkpoints, monitor_drift, prompt_projections
from tunewise.persona.screen import ScreenResult, dataset_score, screen_examples
from tunewise.persona.steer import steering
from tunewise.persona.traits import Trait, builtin_traits, load_trait
from tunewise.persona.vectors import (TraitVector, effect_size, layer_effect_sizes, load_vectors,
                                      mean_answer_activations, project)

__all__ = ["ExtractionBudget", "extract_vector", "extract_vectors", "DriftPoint", "drift", "find_checkpoints",
           "monitor_drift", "prompt_projections", "ScreenResult", "dataset_score", "screen_examples", "steering",
           "Trait", "builtin_traits", "load_trait", "TraitVector", "effect_size", "layer_effect_sizes", "load_vectors",
           "mean_answer_activations", "project"]
