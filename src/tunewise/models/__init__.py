"""Model references, packaged models and the backends that run them."""

from tunewise.models.refs import DEFAULT_MODEL, FAST_MODEL, ModelRef, parse_model_ref
from tunewise.models.registry import load_backend, register_backend
from tunewise.models.types import Backend, Chat, Completion, SamplingParams

__all__ = ["DEFAULT_MODEL", "FAST_MODEL", "ModelRef", "parse_model_ref", "load_backend", "register_backend",
           "Backend", "Chat", "Completion", "SamplingParams"]
