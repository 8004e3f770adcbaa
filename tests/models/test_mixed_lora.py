"""A base model and its LoRA adapters answering in one batch (``MixedLora``) must give each row
what its own model gives alone: greedy token for token, sampled draw for draw."""

import pytest

from tunewise.models import SamplingParams
from tunewise.models.hf import HFBackend
from tunewise.models.mixed_lora import MixedLora, can_mix
from tunewise.testing import save_tiny_adapter, save_tiny_model

QUESTIONS = ["what is a cat", "tell me a story about the sea", "why", "name three colours and a number"]
LONG_SYSTEM = " ".join(f"rule {i}: answer plainly." for i in range(60))  # > 128 tokens: the shared-prefix route


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    base = save_tiny_model(root / "base", layers=2)
    a = f"{base}+lora:{save_tiny_adapter(root / 'a', base, 1)}"
    b = f"{base}+lora:{save_tiny_adapter(root / 'b', base, 2, target_modules=('q_proj', 'v_proj', 'down_proj'))}"
    return base, a, b


def _chats(system: str | None = None):
    head = [{"role": "system", "content": system}] if system else []
    return [head + [{"role": "user", "content": q}] for q in QUESTIONS]


@pytest.mark.parametrize("params", [SamplingParams(temperature=0.0, max_tokens=12),
                                    SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=7)],
                         ids=["greedy", "sampled"])
@pytest.mark.parametrize("system", [None, LONG_SYSTEM], ids=["short", "shared-prefix"])
def test_each_row_answers_as_its_model_alone(refs, params, system):
    chats = _chats(system)
    alone = {ref: [c.text for c in HFBackend(ref, batch_size=64).generate(chats, params)] for ref in refs}
    assert alone[refs[0]] != alone[refs[1]] != alone[refs[2]]  # the adapters change the answers
    mixed = MixedLora(list(refs), batch_size=64, show_progress=False)
    requests = [(ref, chat) for chat in chats for ref in reversed(refs)]  # interleaved on purpose
    completions = mixed.generate(requests, params)
    assert len(completions) == len(requests) * params.n
    together = {ref: [] for ref in refs}
    for completion in completions:
        together[requests[completion.chat_index][0]].append(completion)
    for ref in refs:
        rows = sorted(together[ref], key=lambda c: (c.chat_index, c.sample_index))
        assert [c.text for c in rows] == alone[ref], ref


def test_which_refs_can_share_a_batch(refs, tmp_path):
    base, a, b = refs
    assert can_mix([base, a, b]) and can_mix([a, b])
    assert not can_mix([base])  # nothing to mix
    assert not can_mix([a, f"hf:{tmp_path}/other+lora:{tmp_path}"])  # two bases
    assert not can_mix([base, a], backend_name="vllm")
    with pytest.raises(ValueError, match="not loaded"):
        MixedLora([base, a], show_progress=False).generate([(b, _chats()[0])], SamplingParams(max_tokens=2))
