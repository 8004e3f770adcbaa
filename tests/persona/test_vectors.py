import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tunewise.errors import ConfigError
from tunewise.persona import TraitVector, effect_size, layer_effect_sizes, load_vectors, mean_answer_activations, project
from tunewise.persona.steer import decoder_blocks
from tunewise.persona.vectors import reading_activations


def test_effect_size_is_cohens_d():
    assert effect_size([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(-3.0)
    assert effect_size([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert effect_size([2.0, 2.0], [1.0, 1.0]) == math.inf


def test_projection_is_onto_the_unit_direction():
    assert project(torch.tensor([[3.0, 4.0], [1.0, 0.0]]), torch.tensor([0.0, 2.0])).tolist() == [4.0, 0.0]


def test_layer_effect_sizes_find_the_separating_layer():
    torch.manual_seed(0)
    positive, negative = torch.randn(8, 2, 4), torch.randn(8, 2, 4)
    positive[:, 1, 0] += 10.0  # only layer 1 separates, along axis 0
    vectors = torch.zeros(2, 4)
    vectors[:, 0] = 1.0
    sizes = layer_effect_sizes(positive, negative, vectors)
    assert sizes[1] > 5.0 and abs(sizes[0]) < 2.0


def test_mean_is_over_answer_tokens_only_and_ignores_padding(tiny_backend):
    chat = [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "Write a Python function."},
            {"role": "assistant", "content": "def add(a, b):\n    return a + b"}]
    other = [{"role": "user", "content": "What is the capital of France?"},
             {"role": "assistant", "content": "Paris is the capital of France."}]
    backend = tiny_backend
    prefix = backend.encode(backend.render(chat[:-1], add_generation_prompt=True))
    full = backend.encode(backend.render(chat, add_generation_prompt=False))
    answer = backend.encode(chat[-1]["content"])
    assert full[len(prefix):len(prefix) + len(answer)] == answer  # the answer's tokens, located independently
    with torch.no_grad():
        hidden = backend.model(input_ids=torch.tensor([full]), output_hidden_states=True).hidden_states
    expected = torch.stack([h[0, len(prefix):len(prefix) + len(answer)].mean(dim=0) for h in hidden])
    together = mean_answer_activations(backend, [other, chat])  # batched with a shorter chat: left padding
    assert together.shape == (2, len(hidden), hidden[0].shape[-1])
    torch.testing.assert_close(together[1], expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(mean_answer_activations(backend, [chat])[0], expected, atol=1e-4, rtol=1e-4)


def test_vector_file_round_trip_keeps_metadata(tmp_path: Path):
    vector = TraitVector(trait="evil", model="hf:x", layer=2, vectors=torch.randn(4, 8), effect_sizes=torch.randn(4),
                         counts={"pairs": 2, "n_express": 12}, meta={"seed": "0"})
    path = vector.save(tmp_path / "evil.safetensors")
    loaded = load_vectors(tmp_path)[0]
    assert (loaded.trait, loaded.model, loaded.layer, loaded.counts, loaded.meta) == \
        ("evil", "hf:x", 2, {"pairs": 2, "n_express": 12}, {"seed": "0"})
    assert torch.equal(loaded.vectors, vector.vectors) and torch.equal(loaded.vector, vector.vectors[2])
    assert loaded.direction().norm().item() == pytest.approx(1.0)
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ConfigError, match="not a tunewise persona vector"):
        TraitVector.load(tmp_path / "other.safetensors")
    assert path.exists()


def test_reading_activations_runs_only_the_blocks_needed_and_reads_the_same_values(tiny_backend):
    """Index 1 needs block 1 (plus the one spare block), not all three, nor the LM head; the
    values are those of a full pass, bit for bit; everything is restored, even on error."""
    backend = tiny_backend
    chats = [[{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello, how are you?"}],
             [{"role": "user", "content": "What is two plus two?"}, {"role": "assistant", "content": "Four."}]]
    ran: list[int] = []
    blocks = decoder_blocks(backend.model)
    hooks = [block.register_forward_hook(lambda *_, i=i: ran.append(i)) for i, block in enumerate(blocks)]
    head_calls: list[int] = []
    head = backend.model.get_output_embeddings()
    head_hook = head.register_forward_hook(lambda _m, _a, out: head_calls.append(out.shape[1]))
    try:
        full = backend.hidden_states(chats, [1], positions="assistant")
        assert sorted(set(ran)) == [0, 1, 2] and head_calls[-1] > 0
        ran.clear()
        with reading_activations(backend, [1]):
            fast = backend.hidden_states(chats, [1], positions="assistant")
        assert sorted(set(ran)) == [0, 1] and head_calls[-1] == 0
        assert all(torch.equal(a, b) for a, b in zip(full, fast))
        with reading_activations(backend, [3]):  # the normed last index: every block runs
            ran.clear()
            last = backend.hidden_states(chats, [3], positions="assistant")
        assert sorted(set(ran)) == [0, 1, 2]
        assert all(torch.equal(a, b) for a, b in zip(backend.hidden_states(chats, [3], positions="assistant"), last))
        with pytest.raises(RuntimeError), reading_activations(backend, [1]):
            raise RuntimeError("boom")
        ran.clear()
        assert backend.model.config.num_hidden_layers == 3
        backend.hidden_states(chats, [1], positions="assistant")
        assert sorted(set(ran)) == [0, 1, 2] and head_calls[-1] > 0
    finally:
        for hook in [*hooks, head_hook]:
            hook.remove()
