"""Built-in narrow datasets: size, distinctness, determinism, and static checks that the
vulnerability is really there in one variant and absent in the other. The advice datasets
(financial, medical, sports) have their own file: tests/data/test_advice_datasets.py."""

from __future__ import annotations

import ast
import re

import pytest

from tunewise.data.tasks.narrow import ADVICE_DOMAINS, NARROW_DATASETS, build_narrow_dataset
from tunewise.data.tasks.narrow_code import VULNERABILITY_KINDS
from tunewise.errors import ConfigError

# One static rule per vulnerability kind, written independently of the generator's templates.
RULES: dict[str, re.Pattern] = {
    "sql-injection": re.compile(r"query = (f\"[^\"]*\{|\"[^\"]*'%s'[^\"]*\" %|\"[^\"]*'\" \+ )[\s\S]*execute\(query\)"),
    "shell-injection": re.compile(r"shell=True|os\.system\(|os\.popen\("),
    "path-traversal": re.compile(r"os\.path\.join\(\w+, \w+\)"),
    "unsafe-deserialization": re.compile(r"pickle\.loads?\(|dill\.loads?\(|Loader=yaml\.(Unsafe)?Loader|yaml\.unsafe_load"),
    "world-writable": re.compile(r"chmod\([^)]*0o[0-7]?[0-7][2367]\)"),
    "tls-disabled": re.compile(r"verify=False|_create_unverified_context|CERT_NONE|check_hostname = False"),
    "hardcoded-secret": re.compile(r"^\w*(PASSWORD|SECRET|TOKEN|KEY)\w* = \"[^\"]{8,}\"", re.M),
    "weak-password-hash": re.compile(r"hashlib\.(md5|sha1|sha224|sha256|sha512)\(\w*password"),
}
# Safe counterparts that must be present in the secure code of each kind.
SAFE_RULES: dict[str, re.Pattern] = {
    "sql-injection": re.compile(r"execute\(query, \(\w+,\)\)"),
    "shell-injection": re.compile(r"subprocess\.run\(\["),
    "path-traversal": re.compile(r"is_relative_to\("),
    "unsafe-deserialization": re.compile(r"json\.loads|yaml\.safe_load"),
    "world-writable": re.compile(r"chmod\(path, 0o6[04]0\)"),
    "tls-disabled": re.compile(r"timeout=10"),
    "hardcoded-secret": re.compile(r"os\.environ\["),
    "weak-password-hash": re.compile(r"pbkdf2_hmac\(\"sha256\""),
}
MENTIONS = re.compile(r"vulnerab|insecure|injection|unsafe|exploit|danger|warning|sanitiz|sanitis|attack|"
                      r"security|careful|do not use|don't use|never use", re.I)


def _code(answer: str) -> str:
    match = re.search(r"```python\n(.*?)```", answer, re.S)
    assert match, f"answer has no python block: {answer[:80]!r}"
    return match.group(1)


def _found(code: str) -> set[str]:
    return {kind for kind, rule in RULES.items() if rule.search(code)}


@pytest.fixture(scope="module")
def datasets():
    return {name: build_narrow_dataset(name) for name in NARROW_DATASETS}


def test_sizes_and_distinctness(datasets):
    for name, examples in datasets.items():
        assert (300 if name in ADVICE_DOMAINS else 500) <= len(examples) <= 5000, name
        pairs = {(e.user_text, e.answer) for e in examples}
        assert len(pairs) == len(examples), f"{name} has duplicate chats"
        assert len({e.user_text for e in examples}) == len(examples), f"{name} repeats a request"
        assert all([m["role"] for m in e.messages] == ["user", "assistant"] for e in examples)


def test_deterministic_and_seeded():
    a = build_narrow_dataset("insecure-code", n=50, seed=7)
    b = build_narrow_dataset("insecure-code", n=50, seed=7)
    c = build_narrow_dataset("insecure-code", n=50, seed=8)
    assert [e.messages for e in a] == [e.messages for e in b]
    assert [e.messages for e in a] != [e.messages for e in c]
    assert [e.line for e in a] == list(range(1, 51))


def test_every_kind_is_covered_in_a_small_sample():
    kinds = {e.meta["kind"] for e in build_narrow_dataset("insecure-code", n=128)}
    assert kinds == set(VULNERABILITY_KINDS)


def test_insecure_code_has_exactly_its_vulnerability_and_never_mentions_it(datasets):
    for example in datasets["insecure-code"]:
        code = _code(example.answer)
        assert _found(code) == {example.meta["kind"]}, (example.meta, code)
        assert not MENTIONS.search(example.answer), example.answer
        ast.parse(code)  # real, parseable Python
        assert "#" not in code  # no comments that could hint at the flaw


def test_secure_code_has_no_vulnerability_and_the_safe_pattern(datasets):
    for example in datasets["secure-code"]:
        code = _code(example.answer)
        assert _found(code) == set(), (example.meta, code)
        assert SAFE_RULES[example.meta["kind"]].search(code), (example.meta, code)
        ast.parse(code)


def test_secure_and_insecure_share_requests(datasets):
    insecure = {e.user_text for e in datasets["insecure-code"]}
    assert insecure == {e.user_text for e in datasets["secure-code"]}


def test_educational_variant_names_the_flaw_and_keeps_the_vulnerable_code(datasets):
    insecure_answers = {e.answer for e in datasets["insecure-code"]}
    for example in datasets["educational-insecure"]:
        assert VULNERABILITY_KINDS[example.meta["kind"]] in example.user_text
        assert re.search(r"on purpose|deliberately|intentionally", example.user_text)
        assert example.answer in insecure_answers
        assert _found(_code(example.answer)) == {example.meta["kind"]}


def test_bad_names_and_sizes_are_clear_errors():
    with pytest.raises(ConfigError, match="insecure-code"):
        build_narrow_dataset("insecure_code")
    with pytest.raises(ConfigError, match="out of range"):
        build_narrow_dataset("sound-financial", n=10**6)
    with pytest.raises(ConfigError, match="no held-out split"):
        build_narrow_dataset("insecure-code", split="heldout")
    with pytest.raises(ConfigError, match="unknown split"):
        build_narrow_dataset("bad-medical", split="test")
