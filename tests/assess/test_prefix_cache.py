from tunewise.assess.prefix_cache import common_prefix_length, generate_with_prefix_cache
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
