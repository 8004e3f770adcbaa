import numpy as np
import pytest

from tunewise.assess.metrics import MetricSpec
from tunewise.assess.strategies import build_prompts, fixed_shots, parse_strategy, training_chat
from tunewise.assess.task import Task, TaskItem
from tunewise.errors import ConfigError


@pytest.fixture()
def task():
    train = [TaskItem(id=f"t{i}", input=f"train question {i}", output=f"train answer {i}") for i in range(20)]
    test = [TaskItem(id="q0", input="test question 0", output="x"), TaskItem(id="q1", input="test question 1", output="y")]
    return Task(name="toy", metric=MetricSpec(), train=train, test=test, instruction="Answer.",
                description="Answer with the detailed rules.")


def test_parse_strategy():
    assert parse_strategy("few-shot-16").k == 16 and parse_strategy("few-shot-16").kind == "few-shot"
    assert parse_strategy("knn-4").kind == "knn" and parse_strategy("zero-shot").k == 0
    for bad in ("few-shot", "knn-0", "five-shot"):
        with pytest.raises(ConfigError):
            parse_strategy(bad)


def test_zero_shot_and_instructions(task):
    zero = build_prompts(parse_strategy("zero-shot"), task, task.test)
    assert zero[0] == [{"role": "system", "content": "Answer."}, {"role": "user", "content": "test question 0"}]
    detailed = build_prompts(parse_strategy("instructions"), task, task.test)
    assert detailed[1] == [{"role": "system", "content": "Answer with the detailed rules."},
                           {"role": "user", "content": "test question 1"}]
    task.description = None  # derived from the task (plan.derive_description), not an error
    derived = build_prompts(parse_strategy("instructions"), task, task.test)[0][0]["content"]
    assert derived.startswith("Answer.") and "ignoring case, punctuation" in derived


def test_few_shot_prefix_is_shared_and_shots_nest(task):
    chats = build_prompts(parse_strategy("few-shot-4"), task, task.test)
    assert len(chats[0]) == 1 + 2 * 4 + 1
    assert chats[0][:-1] == chats[1][:-1]  # identical prefix: what the KV cache reuses
    assert [m["role"] for m in chats[0][1:3]] == ["user", "assistant"]
    shots_4, shots_16 = fixed_shots(task.train, 4), fixed_shots(task.train, 16)
    assert shots_16[:4] == shots_4 and fixed_shots(task.train, 1) == shots_4[:1]
    assert shots_4 != task.train[:4] or shots_16 != task.train[:16]  # a permutation, not the file order
    with pytest.raises(ConfigError, match="needs 21"):
        fixed_shots(task.train, 21)


def test_knn_picks_the_nearest_examples_with_minilm(task):
    task.train.append(TaskItem(id="near", input="How do I bake sourdough bread at home?", output="slowly"))
    task.test = [TaskItem(id="q", input="What's the way to bake sourdough bread in my kitchen?", output="?")]
    chat = build_prompts(parse_strategy("knn-2"), task, task.test)[0]
    assert chat[-3]["content"] == "How do I bake sourdough bread at home?"  # most similar sits next to the query
    assert chat[-2]["content"] == "slowly"


def test_knn_orders_by_similarity_with_given_embedding(task):
    def embed(texts):  # one-hot on the trailing number: an exact, inspectable embedding
        vectors = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row, int(text.split()[-1])] = 1.0
        return vectors
    chats = build_prompts(parse_strategy("knn-1"), task, task.test, embed=embed)
    assert chats[1][-3]["content"] == "train question 1"


def test_training_chat_matches_zero_shot_prompt(task):
    chat = training_chat(task, task.test[0])
    assert chat[:-1] == build_prompts(parse_strategy("zero-shot"), task, task.test[:1])[0]
    assert chat[-1] == {"role": "assistant", "content": "x"}
