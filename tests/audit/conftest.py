import pytest


@pytest.fixture(scope="session")
def tiny_backend():
    """A random two-layer Qwen2 behind the real hf backend (no mocks)."""
    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    return HFBackend.from_model(model, tokenizer, model_ref="hf:tiny-test", batch_size=8)
