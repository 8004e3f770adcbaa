import datetime as dt
import json

import pytest

from tunewise.assess.metrics import build_scorer
from tunewise.assess.task import TaskItem, load_task, split_items
from tunewise.assess.tasks import BUILTIN_TASKS, builtin_examples, builtin_task_module
from tunewise.errors import ConfigError, DataValidationError


def _items(n):
    return [TaskItem(id=str(i), input=f"q{i}", output=f"a{i}") for i in range(n)]


def test_split_is_seeded_disjoint_and_complete():
    items = _items(100)
    train, dev, test = split_items(items, test_size=20, dev_size=0.1, seed=3)
    assert (len(train), len(dev), len(test)) == (70, 10, 20)
    ids = [i.id for i in train + dev + test]
    assert sorted(ids) == sorted(i.id for i in items)
    assert split_items(items, 20, 0.1, seed=3) == (train, dev, test)
    assert split_items(items, 20, 0.1, seed=4)[2] != test


def test_split_refuses_to_leave_nothing_to_train():
    with pytest.raises(ConfigError, match="cannot hold out"):
        split_items(_items(10), test_size=10)


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_builtin_tasks_are_deterministic_distinct_and_scored_correct(name):
    module = builtin_task_module(name)
    pairs = module.generate(300, seed=0)
    assert pairs == module.generate(300, seed=0)
    assert len({text for text, _ in pairs}) == 300
    scorer = build_scorer(module.METRIC)
    assert all(scorer(gold, gold) == 1.0 for _, gold in pairs)  # gold answers pass their own metric
    assert sum(scorer(gold, pairs[0][1]) for _, gold in pairs) < 300  # ... and the metric discriminates


def test_builtin_gold_answers_are_right():
    for text, gold in builtin_task_module("dates").generate(200):
        date = dt.date.fromisoformat(gold)
        assert str(date.year % 100).zfill(2) in text
    for text, gold in builtin_task_module("extract").generate(100):
        record = json.loads(gold)
        assert record["name"] in text and record["city"] in text and record["color"] in text
    for text, gold in builtin_task_module("units").generate(200):
        if text.startswith("Convert") and " km to miles" in text:
            value = float(text.split()[1])
            assert abs(float(gold) - value / 1.609344) < 0.006


def test_load_builtin_task_and_examples():
    task = load_task("intents", n=120, test_size=20, seed=1)
    assert (len(task.train), len(task.test)) == (100, 20)
    assert task.metric.name == "choice" and task.description and task.instruction
    examples = builtin_examples("intents", n=5)
    assert examples[0].user_text == builtin_task_module("intents").generate(5)[0][0]


def test_load_jsonl_with_user_splits(tmp_path):
    path = tmp_path / "task.jsonl"
    lines = [{"input": f"question {i}", "output": f"answer {i}", "system": "Answer briefly.",
              "metadata": {"split": "test" if i < 3 else "train"}} for i in range(10)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    task = load_task(str(path))
    assert [i.input for i in task.test] == ["question 0", "question 1", "question 2"]
    assert len(task.train) == 7 and task.instruction == "Answer briefly."
    assert task.metric.name == "normalized" and task.test[0].line == 1


def test_load_jsonl_errors_name_file_line_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "a", "output": "b", "metadata": {"split": "validation"}}\n'
                    '{"input": "c", "output": "d", "metadata": {"split": "test"}}\n')
    with pytest.raises(DataValidationError, match=r"bad.jsonl:1: metadata.split"):
        load_task(str(path))
    with pytest.raises(ConfigError, match="neither a built-in task"):
        load_task("no-such-task")
