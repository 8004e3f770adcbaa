"""Shared fixtures: a tiny random model (maths and plumbing) and, for the one test whose point
is semantic signal, the packaged SmolLM2-135M (a random model has no notion of a trait)."""

from __future__ import annotations

import pytest

from tunewise.models.hf import HFBackend
from tunewise.testing import tiny_model


@pytest.fixture(scope="session")
def tiny_backend() -> HFBackend:
    """Three blocks, so hidden-states index 1 and 2 are steerable and 3 is the normed output."""
    model, tokenizer = tiny_model(layers=3)
    return HFBackend.from_model(model, tokenizer, "hf:tiny-persona")


@pytest.fixture(scope="session")
def smol_backend() -> HFBackend:
    return HFBackend("packaged:smollm2-135m-instruct", show_progress=False)
