import pytest
import torch

from tunewise.models.types import SamplingParams
from tunewise.persona import TraitVector, steering
from tunewise.persona.steer import decoder_blocks

CHATS = [[{"role": "user", "content": "Tell me three things you would do if you ruled the world."}],
         [{"role": "user", "content": "hello"}]]


def _states(backend):
    return backend.hidden_states(CHATS, positions="all")


def test_steering_adds_exactly_alpha_times_vector_at_its_layer_and_nowhere_before(tiny_backend):
    torch.manual_seed(1)
    vector = torch.randn(tiny_backend.model.config.hidden_size)
    before = _states(tiny_backend)
    with steering(tiny_backend, vector, layer=2, alpha=-3.0):
        steered = _states(tiny_backend)
    for plain, changed in zip(before, steered):
        torch.testing.assert_close(changed[2] - plain[2], (-3.0 * vector).expand_as(plain[2]), atol=1e-5, rtol=0)
        assert torch.equal(changed[:2], plain[:2])  # embeddings and block 1 untouched
        assert not torch.allclose(changed[3], plain[3])  # and it propagates downstream
    after = _states(tiny_backend)
    assert all(torch.equal(a, b) for a, b in zip(after, before))  # hook removed


def test_hook_is_removed_even_when_the_body_raises(tiny_backend):
    vector = TraitVector(trait="t", model="hf:tiny", layer=1, vectors=torch.ones(4, 32), effect_sizes=torch.zeros(4))
    block = decoder_blocks(tiny_backend.model)[0]
    hooks = len(block._forward_hooks)
    with pytest.raises(RuntimeError):
        with steering(tiny_backend, vector, alpha=5.0):
            assert len(block._forward_hooks) == hooks + 1
            raise RuntimeError("boom")
    assert len(block._forward_hooks) == hooks


def test_steering_changes_generation_and_rejects_bad_layers(tiny_backend):
    params = SamplingParams(temperature=0.0, max_tokens=8)
    plain = tiny_backend.generate(CHATS[:1], params)[0].text
    direction = torch.randn(tiny_backend.model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    with steering(tiny_backend, direction, layer=1, alpha=50.0):
        steered = tiny_backend.generate(CHATS[:1], params)[0].text
    assert steered != plain
    assert tiny_backend.generate(CHATS[:1], params)[0].text == plain
    with pytest.raises(ValueError, match="between 1 and 3"):
        with steering(tiny_backend, direction, layer=0):
            pass


def test_steering_reaches_through_a_peft_wrapper():
    from peft import LoraConfig, get_peft_model

    from tunewise.models.hf import HFBackend
    from tunewise.testing import tiny_model

    model, tokenizer = tiny_model(layers=2)
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
    backend = HFBackend.from_model(wrapped, tokenizer)
    vector = torch.randn(32)
    before = backend.hidden_states(CHATS[:1], layers=[1], positions="all")[0]
    with steering(backend, vector, layer=1, alpha=2.0):
        after = backend.hidden_states(CHATS[:1], layers=[1], positions="all")[0]
    torch.testing.assert_close(after - before, (2.0 * vector).expand_as(before), atol=1e-5, rtol=0)
