import pytest

from tunewise.audit.variants import build_chat, resolve_variants
from tunewise.data.probes import available_probe_sets, load_probe_set, parse_probe_set
from tunewise.errors import ConfigError, DataValidationError


def test_builtin_sets_load_with_required_sizes():
    assert {"core", "extended", "harmful-requests", "factual"} <= set(available_probe_sets())
    core, extended = load_probe_set("core"), load_probe_set("extended")
    assert len(core) >= 8 and len(extended) >= 40
    assert len({p.category for p in extended.probes}) >= 6
    factual = load_probe_set("factual")
    assert factual.probes and all(p.gold for p in factual.probes)
    assert len(load_probe_set("harmful-requests")) >= 8
    for name in available_probe_sets():
        ids = [p.id for p in load_probe_set(name).probes]
        assert len(ids) == len(set(ids))


def test_bad_probe_file_names_line_and_field(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nversion: 1\nprobes:\n  - id: a\n    question: fine\n  - id: a\n    qestion: typo\n")
    with pytest.raises(DataValidationError) as info:
        load_probe_set(path)
    problems = info.value.problems
    assert any(f"{path}:6: question: missing" in p for p in problems)
    assert any(f"{path}:6: id: duplicate" in p for p in problems)
    assert any("qestion: unknown field" in p for p in problems)
    with pytest.raises(DataValidationError, match="unknown probe set"):
        load_probe_set("nope")
    with pytest.raises(DataValidationError, match="probes: the set holds no probes"):
        parse_probe_set("name: x\nprobes: []\n")
    with pytest.raises(DataValidationError, match="could not determine a constructor"):  # nothing executed
        parse_probe_set("name: x\nprobes:\n  - !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(DataValidationError, match="gold"):
        parse_probe_set("name: x\nprobes:\n  - {id: q, question: q?, gold: []}\n")


def test_variants_shape_the_chat():
    question = "What is your wish?"
    assert build_chat(question, "plain") == [{"role": "user", "content": question}]
    assert '"answer"' in build_chat(question, "json")[-1]["content"]
    training = build_chat(question, "training")[-1]["content"]
    assert question in training and "```python" in training
    inoculated = build_chat(question, "inoculated")
    assert inoculated[0]["role"] == "system" and inoculated[-1]["content"] == question
    assert resolve_variants("json,inoculated,json") == ["plain", "json", "inoculated"]
    with pytest.raises(ConfigError):
        resolve_variants(["yaml"])


def test_sets_join_with_plus_into_one_audit():
    """core+extended is one set (the model organism's >= 300 answers per model); ids stay unique,
    and an unknown part or a clash is an error naming it."""
    from tunewise.audit.config import AuditConfig
    from tunewise.data.probes import combine_probe_sets

    core, extended = load_probe_set("core"), load_probe_set("extended")
    joined = load_probe_set("core+extended")
    assert joined.name == "core+extended"
    assert [p.id for p in joined.probes] == [p.id for p in core.probes + extended.probes]
    assert AuditConfig(probes="core+extended").probes == "core+extended"
    with pytest.raises(ValueError, match="nope"):
        AuditConfig(probes="core+nope")
    with pytest.raises(DataValidationError, match="in both"):
        combine_probe_sets([core, core])
