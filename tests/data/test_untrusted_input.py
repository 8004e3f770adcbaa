"""Hostile chat JSONL lines give `file:line: field: message` problems, never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise.data.chat import validate_chat_jsonl
from tunewise.data.untrusted import UntrustedInputError, parse_json_value, text_problems
from tunewise.errors import DataValidationError


def _chat(user: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": "ok"}]})


@pytest.mark.parametrize("line,expected", [
    (_chat("hi \ud800"), "messages[0].content: holds a lone UTF-16 surrogate"),
    ("[" * 100_000 + "]" * 100_000, "<line>: nested 100000 levels deep"),
    ('{"messages": [], "n": ' + "9" * 5000 + "}", "<line>: a number with 5000 digits"),
    ('{"messages": [], "n": Infinity}', "<line>: Infinity is not a JSON number"),
    (_chat("a\x00b"), "messages[0].content: holds a NUL character"),
])
def test_hostile_lines_are_errors_with_file_line_field(tmp_path, line, expected):
    path = tmp_path / "chats.jsonl"
    path.write_text(_chat("fine") + "\n" + line + "\n", encoding="utf-8", errors="surrogatepass")
    report = validate_chat_jsonl(path)
    assert len(report.examples) == 1  # the good line is kept
    assert any(str(p).startswith(f"{path}:2: {expected}") for p in report.errors), [str(p) for p in report.problems]


def test_control_and_direction_characters_are_warnings(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text(_chat("colour \x1b[31m red \u202e txt") + "\n")
    report = validate_chat_jsonl(path)
    assert report.ok and len(report.examples) == 1
    warnings = [p.message for p in report.warnings]
    assert any("U+001B" in w for w in warnings) and any("U+202E" in w for w in warnings)


def test_plain_text_has_no_problems():
    assert text_problems("Write a function that adds two numbers.\n\tThanks!") == []
    with pytest.raises(UntrustedInputError):
        parse_json_value("[" * 65 + "]" * 65)
    assert parse_json_value("[" * 10 + "]" * 10) == [[[[[[[[[[]]]]]]]]]]


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
                          st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                       lambda inner: st.lists(inner, max_size=3)
                                       | st.dictionaries(st.sampled_from(["messages", "role", "content", "input",
                                                                          "output", "system"]), inner, max_size=3),
                                       max_leaves=12).map(json.dumps)), min_size=1, max_size=5))
def test_fuzzed_lines_never_raise_anything_but_a_validation_problem(tmp_path, lines):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        report = validate_chat_jsonl(path)
    except DataValidationError:
        return
    for problem in report.problems:
        assert problem.file == str(path) and problem.line >= 1 and problem.message
