"""The validator's error catalogue: every problem named with file, line and field."""

import json

import pytest

from tunewise.data.chat import load_chat_jsonl, validate_chat_jsonl, write_chat_jsonl
from tunewise.errors import DataValidationError

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _file(tmp_path, lines, raw_prefix=b""):
    path = tmp_path / "data.jsonl"
    body = b"".join((line if isinstance(line, bytes) else (json.dumps(line) if not isinstance(line, str) else line).encode()) + b"\n"
                    for line in lines)
    path.write_bytes(raw_prefix + body)
    return path


def _problems(path, **kwargs):
    return {(p.line, p.field, p.severity): p.message for p in validate_chat_jsonl(path, **kwargs).problems}


@pytest.mark.parametrize("line, field, fragment", [
    ("{bad json", "<line>", "bad JSON"),
    ("[1, 2]", "<line>", "JSON object"),
    ({"text": "x"}, "<line>", "needs a 'messages'"),
    ({"messages": "hi"}, "messages", "must be a list"),
    ({"messages": []}, "messages", "is empty"),
    ({"messages": ["hi"]}, "messages[0]", "must be an object"),
    ({"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "messages[0].role", "unknown role"),
    ({"messages": [{"content": "x"}]}, "messages[0].role", "is missing"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "is missing"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "must be a string"),
    ({"messages": [{"role": "user", "content": "  "}]}, "messages[0].content", "is empty"),
    ({"messages": [{"role": "user", "content": "x"}]}, "messages", "no assistant turn"),
    ({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}, "messages[1].role", "must be the assistant"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "y"}]}, "messages[1].role", "system message may only come first"),
    ({"input": "x"}, "output", "is missing"),
    ({"input": "x", "output": 5}, "output", "must be a string"),
    ({"input": "", "output": "y"}, "input", "is empty"),
])
def test_each_error_is_reported_with_its_field(tmp_path, line, field, fragment):
    path = _file(tmp_path, [GOOD, line])
    problems = _problems(path)
    assert fragment in problems[(2, field, "error")]
    with pytest.raises(DataValidationError) as info:
        load_chat_jsonl(path)
    assert f"{path}:2: {field}:" in str(info.value)


def test_non_utf8_line(tmp_path):
    path = _file(tmp_path, [GOOD, b"\xff\xfe{}"])
    assert "UTF-8" in _problems(path)[(2, "<line>", "error")]


def test_warnings_do_not_block(tmp_path):
    path = _file(tmp_path, [GOOD, "", GOOD, {**GOOD, "extra": 1}], raw_prefix=b"\xef\xbb\xbf")
    report = validate_chat_jsonl(path)
    messages = {(p.line, p.field): p.message for p in report.warnings}
    assert "byte-order mark" in messages[(1, "<file>")]
    assert "blank line" in messages[(2, "<line>")]
    assert "duplicate of line 1" in messages[(3, "<line>")]
    assert "unknown key" in messages[(4, "extra")]
    assert report.ok and len(load_chat_jsonl(path)) == 3


def test_over_long_examples_counted(tmp_path, tiny_backend):
    long = {"input": "word " * 300, "output": "ok"}
    path = _file(tmp_path, [GOOD, long, long | {"output": "ok2"}])
    warning = _problems(path, tokenizer=tiny_backend.tokenizer, max_tokens=100)[(2, "messages", "warning")]
    assert "2 example(s) exceed 100 tokens" in warning


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert "no examples" in _problems(path)[(1, "<file>", "error")]


def test_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match="no such file"):
        load_chat_jsonl(tmp_path / "nope.jsonl")


def test_simple_form_and_round_trip(tmp_path):
    path = _file(tmp_path, [{"system": "s", "input": "q", "output": "a"}])
    (example,) = load_chat_jsonl(path)
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant"]
    assert example.user_text == "q" and example.answer == "a" and len(example.prompt_messages) == 2
    assert example.line == 1 and example.source == str(path)
    again = load_chat_jsonl(write_chat_jsonl(tmp_path / "out.jsonl", [example]))
    assert again[0].messages == example.messages


def test_cli_prints_one_line_per_problem_and_fails(tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    path = _file(tmp_path, [GOOD, "{bad", {"messages": [{"role": "user", "content": "x"}]}])
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    assert lines == [f"{path}:2: <line>: bad JSON: Expecting property name enclosed in double quotes at column 2",
                     f"{path}:3: messages: has no assistant turn (nothing to learn or score)"]
