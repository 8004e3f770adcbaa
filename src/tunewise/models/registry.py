"""Pick the backend for a model reference. Backends register themselves by scheme/engine name,
so a new engine is one file plus one ``register_backend`` call."""

from __future__ import annotations

from typing import Callable

from tunewise.errors import ModelRefError
from tunewise.models.refs import ModelRef, parse_model_ref
from tunewise.models.types import Backend
from tunewise.registry import BACKENDS



def register_backend(name: str, factory: Callable[..., Backend]) -> None:
    BACKENDS.register(name, factory)


def _hf(ref: ModelRef, **options) -> Backend:
    from tunewise.models.hf import HFBackend

    return HFBackend(str(ref), **options)


register_backend("hf", _hf)


def backend_name(model: str | ModelRef, backend: str | None = None) -> str:
    """The engine ``load_backend`` uses: ``backend`` if given, else ``openai`` for openai:
    references and ``hf`` for everything else. Callers use it to pass engine-specific options."""
    if backend:
        return backend
    ref = parse_model_ref(model) if isinstance(model, str) else model
    return "openai" if ref.scheme == "openai" else "hf"


def load_backend(model: str | ModelRef, backend: str | None = None, **options) -> Backend:
    """Load ``model`` behind the named backend. Default: ``openai`` for openai: references,
    ``hf`` for everything else. ``options`` go to the backend's constructor."""
    ref = parse_model_ref(model) if isinstance(model, str) else model
    name = backend_name(ref, backend)
    if name not in BACKENDS:
        raise ModelRefError(f"unknown backend {name!r} for {ref}; known: {', '.join(BACKENDS.names())}")
    return BACKENDS.get(name)(ref, **options)
