"""Shared fixtures for the train tests: one tiny Qwen2 model folder for the whole session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models are slower with several threads on a shared 2-core machine (spin waits)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_ref(tmp_path_factory) -> str:
    from tunewise.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny():
    from tunewise.testing import tiny_model

    return tiny_model()
