"""The hf backend on a tiny random model: real transformers code paths, milliseconds each."""

import torch

from tunewise.models.types import SamplingParams

CHATS = [
    [{"role": "user", "content": "hello there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}],
]


def test_n_samples_per_chat_are_ordered_distinct_and_counted(tiny_backend):
    out = tiny_backend.generate(CHATS, SamplingParams(n=3, max_tokens=6, seed=7))
    assert [(c.chat_index, c.sample_index) for c in out] == [(c, s) for c in range(2) for s in range(3)]
    assert len({c.seed for c in out}) == 6, "every sample gets its own seed"
    assert len({c.text for c in out if c.chat_index == 0}) > 1, "samples of one chat differ"
    for c in out:
        assert c.completion_tokens <= 6 and c.prompt_tokens > 0
        assert c.finish_reason in ("stop", "length")


def test_sampling_is_reproducible_whatever_the_batch(tiny_backend):
    params = SamplingParams(n=2, max_tokens=6, seed=3)
    together = tiny_backend.generate(CHATS, params)
    alone = tiny_backend.generate(CHATS[1:], params)
    assert [c.text for c in together[2:]] == [c.text for c in alone]


def test_greedy_matches_a_manual_argmax_loop(tiny_backend):
    out = tiny_backend.generate(CHATS[:1], SamplingParams(temperature=0, max_tokens=5))[0]
    ids = torch.tensor([tiny_backend.encode(tiny_backend.render(CHATS[0]))])
    generated = []
    with torch.no_grad():
        for _ in range(out.completion_tokens):
            next_id = int(tiny_backend.model(input_ids=ids).logits[0, -1].argmax())
            generated.append(next_id)
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
    assert out.text == tiny_backend.tokenizer.decode(generated, skip_special_tokens=True)


def test_stop_strings_cut_the_text(tiny_backend):
    free = tiny_backend.generate(CHATS[:1], SamplingParams(temperature=0, max_tokens=12))[0].text
    assert len(free) > 2
    stop = free[1:3]
    cut = tiny_backend.generate(CHATS[:1], SamplingParams(temperature=0, max_tokens=12, stop=[stop]))[0]
    assert stop not in cut.text and free.startswith(cut.text) and cut.finish_reason == "stop"


def test_top_logprobs_are_the_true_distribution(tiny_backend):
    tops = tiny_backend.top_logprobs(CHATS, k=5)
    full = tiny_backend.next_token_logprobs(CHATS)
    assert len(tops) == 2
    for top, row in zip(tops, full):
        assert len(top) <= 5
        assert max(top.values()) == float(row.max())
        assert abs(float(torch.logsumexp(row, 0))) < 1e-4


def test_hidden_states_select_answer_tokens(tiny_backend):
    chat = CHATS[0] + [{"role": "assistant", "content": "Paris is nice"}]
    answer = tiny_backend.hidden_states([chat], layers=[0, 2], positions="assistant")[0]
    everything = tiny_backend.hidden_states([chat], layers=[0, 2], positions="all")[0]
    n_answer = len(tiny_backend.encode("Paris is nice"))
    assert answer.shape == (2, n_answer, 32)
    # The answer tokens are a contiguous run inside the full sequence, before the closing tokens.
    full_ids = tiny_backend.encode(tiny_backend.render(chat, add_generation_prompt=False))
    start = next(i for i in range(len(full_ids)) if torch.equal(everything[:, i], answer[:, 0]))
    assert torch.allclose(everything[:, start:start + n_answer], answer)
    assert start + n_answer < len(full_ids)
    last = tiny_backend.hidden_states([CHATS[0]], layers=[1], positions="last")[0]
    assert last.shape == (1, 1, 32)


def test_left_padding_does_not_change_hidden_states(tiny_backend):
    chat = CHATS[0] + [{"role": "assistant", "content": "Paris"}]
    alone = tiny_backend.hidden_states([chat], layers=[2])[0]
    batched = tiny_backend.hidden_states([CHATS[1] + [{"role": "assistant", "content": "x"}], chat], layers=[2])[1]
    assert torch.allclose(alone, batched, atol=1e-4)
