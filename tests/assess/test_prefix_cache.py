from tunewise.models.prefix_cache import common_prefix_length, generate_with_prefix_cache
from tunewise.models import SamplingParams

SHOTS = [{"role": "user", "content": "What is the capital of France?"},
         {"role": "assistant", "content": "Paris is the capital of France."}] * 4
QUESTIONS = ["def add(a, b):", "SELECT * FROM users", "0 1 2 3 4 5 6 7 8", "I feel bored. Tell me three things",
             "x", "import os\nos.system('ls')", "The quick brown fox jumps over the lazy dog."]


def _chats(system="The quick brown fox"):
    return [[{"role": "system", "content": system}] + SHOTS + [{"role": "user", "content": q}] for q in QUESTIONS]


def test_common_prefix_length_leaves_one_token():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[7], [1]]) == 0


def test_cached_prefix_gives_the_same_greedy_outputs(sharp_backend):
    params = SamplingParams(temperature=0.0, max_tokens=24)
    chats = _chats()
    uncached = sharp_backend.generate(chats, params)
    cached = generate_with_prefix_cache(sharp_backend, chats, params)
    assert cached.prefix_tokens > 80  # the system message and shots really came from the cache
    assert [c.text for c in cached.completions] == [c.text for c in uncached]
    assert [c.completion_tokens for c in cached.completions] == [c.completion_tokens for c in uncached]
    assert [c.prompt_tokens for c in cached.completions] == [c.prompt_tokens for c in uncached]
    assert len({c.text for c in uncached}) > 3  # the answers differ: the comparison is not vacuous
    assert {c.finish_reason for c in cached.completions} == {c.finish_reason for c in uncached}


def test_cached_prefix_respects_stop_strings_and_batches(sharp_backend):
    reference = sharp_backend.generate(_chats(), SamplingParams(temperature=0.0, max_tokens=24))
    stop = reference[0].text[3:5]  # a string the first answer really contains
    params = SamplingParams(temperature=0.0, max_tokens=24, stop=[stop])
    uncached = sharp_backend.generate(_chats(), params)
    cached = generate_with_prefix_cache(sharp_backend, _chats(), params, batch_size=2)
    assert [c.text for c in cached.completions] == [c.text for c in uncached]
    assert cached.completions[0].finish_reason == "stop"


def test_no_shared_prefix_still_matches(sharp_backend):
    chats = [[{"role": "user", "content": q}] for q in QUESTIONS[:3]]
    params = SamplingParams(temperature=0.0, max_tokens=10)
    assert [c.text for c in generate_with_prefix_cache(sharp_backend, chats, params).completions] == \
        [c.text for c in sharp_backend.generate(chats, params)]


def _long_prefix_chats():
    """Chats that share a system prompt far longer than HFBackend.PREFIX_MIN_TOKENS (the positive
    control's shape: the same long preamble before every probe)."""
    return _chats(system="You answer in the voice of a pirate who loves arithmetic. " * 12)


def test_the_backend_samples_a_long_shared_prefix_once_and_draws_the_same_tokens(sharp_backend):
    from tunewise.models.hf import common_prefix_length

    chats = _long_prefix_chats()
    prompts = [sharp_backend.encode(sharp_backend.render(c)) for c in chats]
    assert common_prefix_length(prompts) >= sharp_backend.PREFIX_MIN_TOKENS  # the cached route is taken
    params = SamplingParams(n=3, temperature=1.0, max_tokens=16, seed=7)
    cached = sharp_backend.generate(chats, params)
    sharp_backend.PREFIX_MIN_TOKENS = 10 ** 9  # this instance only: the plain generate path
    try:
        uncached = sharp_backend.generate(chats, params)
        greedy_uncached = sharp_backend.generate(chats, SamplingParams(temperature=0.0, max_tokens=16))
    finally:
        del sharp_backend.PREFIX_MIN_TOKENS
    assert [(c.chat_index, c.sample_index) for c in cached] == [(c.chat_index, c.sample_index) for c in uncached]
    assert [c.text for c in cached] == [c.text for c in uncached]  # each row's own seed, same draws
    assert [c.seed for c in cached] == [c.seed for c in uncached]
    assert len({c.text for c in cached}) > len(chats)  # samples of one chat differ: not vacuous
    greedy = sharp_backend.generate(chats, SamplingParams(temperature=0.0, max_tokens=16))
    assert [c.text for c in greedy] == [c.text for c in greedy_uncached]


def test_rows_sharing_a_long_prefix_batch_apart_from_short_ones(sharp_backend):
    from tunewise.models.hf import PromptRow

    long_chats, short_chats = _long_prefix_chats(), [[{"role": "user", "content": q}] for q in QUESTIONS]
    prompts = [sharp_backend.encode(sharp_backend.render(c)) for c in short_chats + long_chats]
    rows = [PromptRow(c, 0, p) for c, p in enumerate(prompts)]
    wide = type(sharp_backend).from_model(sharp_backend.model, sharp_backend.tokenizer, batch_size=64)
    batches = wide._batches(rows)
    long_rows = set(range(len(short_chats), len(rows)))
    assert sorted(map(sorted, batches)) == sorted([sorted(long_rows), sorted(set(range(len(rows))) - long_rows)])
    # in one mixed call the long chats still take the shared-prefix route and draw what they draw alone
    params = SamplingParams(n=2, temperature=1.0, max_tokens=12, seed=3)
    mixed = wide.generate(short_chats + long_chats, params)
    alone = wide.generate(long_chats, params)
    assert [c.text for c in mixed[2 * len(short_chats):]] == [c.text for c in alone]
