"""Which sets a gate is measured against: names from the registries, one rule for related tasks."""

import pytest

from tunewise.errors import ConfigError
from tunewise.gate.sources import (REQUEST_FAMILIES, builtin_dataset, evaluation_sets, in_domain_texts,
                                   related_datasets)
from tunewise.registry import DATASETS, PROBE_SETS, TASKS


def test_every_builtin_set_comes_from_the_registries_and_the_own_dataset_is_left_out():
    sets = {s.name: s for s in evaluation_sets(None, "insecure-code", n_per_set=4, seed=0)}
    expected = ([f"probes:{n}" for n in PROBE_SETS.names()]
                + [f"task:{n}" for n in DATASETS.names() if n != "insecure-code"]
                + [f"task:{n}" for n in TASKS.names()])
    assert list(sets) == expected
    assert all(1 <= len(s.texts) <= 4 for s in sets.values())


def test_related_tasks_are_evaluated_as_should_not_refuse_everywhere(tmp_path):
    builtin = {s.name: s.expect_refusal for s in evaluation_sets(None, "insecure-code", 3, 0)}
    assert builtin["task:secure-code"] is False and builtin["task:educational-insecure"] is False
    assert builtin["task:risky-financial"] is True and builtin["task:units"] is True
    assert all(builtin[f"probes:{name}"] for name in PROBE_SETS.names())
    # the same rule when the sets are listed by hand, and the gate's own data listed is in-domain too
    listed = {s.name: s.expect_refusal for s in evaluation_sets(
        ["task:insecure-code", "task:risky-financial", "task:sound-financial"], "sound-financial", 3, 0)}
    assert listed == {"task:insecure-code": True, "task:risky-financial": False, "task:sound-financial": False}
    # a gate fitted on a user's file has no related built-in task
    assert all(s.expect_refusal for s in evaluation_sets(None, None, 3, 0))


def test_request_families_name_registered_datasets_and_are_symmetric():
    for family in REQUEST_FAMILIES:
        assert family <= set(DATASETS.names())
        for name in family:
            assert related_datasets(name) == family
    assert related_datasets("units") == {"units"} and related_datasets(None) == frozenset()


def test_sources_and_builtin_names(tmp_path):
    assert builtin_dataset("task:secure-code") == builtin_dataset("secure-code") == "secure-code"
    assert builtin_dataset("my.jsonl") is None
    with pytest.raises(ConfigError, match="did you mean 'secure-code'"):
        builtin_dataset("task:secure-cod")
    # task:<name> and the bare name give the chats training uses (same n and seed, same order)
    assert in_domain_texts("task:risky-financial", n=5, seed=2) == in_domain_texts("risky-financial", n=5, seed=2)
    from tunewise.data.tasks.narrow import load_task_chats

    assert in_domain_texts("insecure-code", n=7, seed=1) == [c.user_text for c in load_task_chats("insecure-code", n=7,
                                                                                                   seed=1)]
    lines = tmp_path / "in.txt"
    lines.write_text("a\n\nb\nc\n")
    assert in_domain_texts(str(lines), n=2) == ["a", "b"]
    two = evaluation_sets([str(lines), "probes:core"], None, 10, 0)
    assert [s.name for s in two] == ["file:in.txt", "probes:core"] and two[0].texts == ["a", "b", "c"]
