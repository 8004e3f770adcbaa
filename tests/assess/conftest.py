"""Fixtures for assess tests: a tiny random Qwen2 whose weights are scaled up so that greedy
answers vary from prompt to prompt (with the default small init every prompt decodes to the
same token, which would make "cached equals uncached" trivially true)."""

from __future__ import annotations

import pytest


def _sharpen(model, seed: int = 1) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)


@pytest.fixture(scope="session")
def sharp_backend():
    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model()
    _sharpen(model)
    return HFBackend.from_model(model, tokenizer, model_ref="hf:tiny-sharp", batch_size=3)


@pytest.fixture(scope="session")
def sharp_model_ref(tmp_path_factory) -> str:
    """The same sharpened tiny model saved as an hf: folder (for run_assess and the CLI)."""
    from tunewise.testing import tiny_model

    folder = tmp_path_factory.mktemp("tiny-sharp")
    model, tokenizer = tiny_model()
    _sharpen(model)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return f"hf:{folder}"
