"""Shared fixtures: one tiny model per session, one packaged-model load per session.

Everything runs offline: the hub is never contacted (HF_HUB_OFFLINE=1).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_backend():
    """A random two-layer Qwen2 behind the real hf backend (builds in well under a second)."""
    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    return HFBackend.from_model(model, tokenizer, model_ref="hf:tiny-random", batch_size=4)


@pytest.fixture(scope="session")
def smollm_backend():
    """The packaged SmolLM2-135M, loaded once per test session (builds its cache if needed)."""
    from tunewise.models.hf import HFBackend

    return HFBackend("packaged:smollm2-135m-instruct", show_progress=False)
