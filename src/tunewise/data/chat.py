"""Chat data: load and validate JSONL training/evaluation files.

Two line formats are accepted:

* OpenAI-style chats: ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}``
* the simple form: ``{"input": "...", "output": "..."}`` (becomes one user and one assistant turn;
  an optional ``"system"`` string becomes a system turn)

Validation collects *every* problem with its file, line and field, so a user fixes a file in one
pass, and nothing is trained or evaluated on a file with errors. Warnings (duplicates,
over-long examples, BOM, blank lines, unknown keys) are reported but do not block.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tunewise.data.untrusted import UntrustedInputError, parse_json_value, text_problems
from tunewise.errors import DataValidationError

ROLES = ("system", "user", "assistant")
KNOWN_KEYS = {"messages", "input", "output", "system", "id", "metadata", "meta"}


@dataclass
class ChatExample:
    """One validated chat; ``source`` and ``line`` say where it came from (for error messages)."""

    messages: list[dict[str, str]]
    source: str = "<memory>"
    line: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """Messages before the final assistant turn: what a model is asked."""
        return self.messages[:-1] if self.messages and self.messages[-1]["role"] == "assistant" else list(self.messages)

    @property
    def answer(self) -> str:
        """The final assistant message's content (the target)."""
        return self.messages[-1]["content"] if self.messages and self.messages[-1]["role"] == "assistant" else ""

    @property
    def user_text(self) -> str:
        """The last user message's content (what a domain gate sees)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    def to_json(self) -> dict:
        record = {"messages": self.messages}
        if self.meta:
            record["metadata"] = self.meta
        return record


@dataclass
class Problem:
    file: str
    line: int
    field: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    examples: list[ChatExample]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_text(value, file, line, field_name, problems) -> bool:
    if not isinstance(value, str):
        problems.append(Problem(file, line, field_name, f"must be a string, got {type(value).__name__}"))
        return False
    if not value.strip():
        problems.append(Problem(file, line, field_name, "is empty"))
        return False
    found = text_problems(value)
    problems.extend(Problem(file, line, field_name, message, severity) for severity, message in found)
    return not any(severity == "error" for severity, _ in found)


def _messages_from_record(record, file: str, line: int, problems: list[Problem]) -> list[dict] | None:
    """Turn one parsed JSON line into messages, appending every problem found."""
    if not isinstance(record, dict):
        problems.append(Problem(file, line, "<line>", f"must be a JSON object, got {type(record).__name__}"))
        return None
    unknown = sorted(set(record) - KNOWN_KEYS)
    if unknown:
        problems.append(Problem(file, line, unknown[0], f"unknown key(s) {', '.join(unknown)} ignored "
                                "(expected messages, or input/output)", "warning"))
    if "messages" in record:
        return _messages_from_chat(record["messages"], file, line, problems)
    if "input" in record or "output" in record:
        before = len(problems)
        messages = []
        if "system" in record and _check_text(record["system"], file, line, "system", problems):
            messages.append({"role": "system", "content": record["system"]})
        for key, role in (("input", "user"), ("output", "assistant")):
            if key not in record:
                problems.append(Problem(file, line, key, "is missing (the simple form needs input and output)"))
            elif _check_text(record[key], file, line, key, problems):
                messages.append({"role": role, "content": record[key]})
        return messages if len(problems) == before else None
    problems.append(Problem(file, line, "<line>", "needs a 'messages' list or 'input' and 'output' strings"))
    return None


def _messages_from_chat(messages, file: str, line: int, problems: list[Problem]) -> list[dict] | None:
    before = len(problems)
    if not isinstance(messages, list):
        problems.append(Problem(file, line, "messages", f"must be a list, got {type(messages).__name__}"))
        return None
    if not messages:
        problems.append(Problem(file, line, "messages", "is empty"))
        return None
    cleaned = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append(Problem(file, line, where, f"must be an object, got {type(message).__name__}"))
            continue
        role = message.get("role")
        if "role" not in message:
            problems.append(Problem(file, line, f"{where}.role", "is missing"))
        elif role not in ROLES:
            problems.append(Problem(file, line, f"{where}.role", f"unknown role {role!r} (use {', '.join(ROLES)})"))
        if "content" not in message:
            problems.append(Problem(file, line, f"{where}.content", "is missing"))
            continue
        if not _check_text(message["content"], file, line, f"{where}.content", problems):
            continue
        extra = sorted(set(message) - {"role", "content", "name"})
        if extra:
            problems.append(Problem(file, line, f"{where}.{extra[0]}", "unknown message key ignored", "warning"))
        if role in ROLES:
            cleaned.append({"role": role, "content": message["content"]})
    if len(problems) > before and any(p.severity == "error" for p in problems[before:]):
        return None
    roles = [m["role"] for m in cleaned]
    if "system" in roles[1:]:
        problems.append(Problem(file, line, f"messages[{roles.index('system', 1)}].role",
                                "a system message may only come first"))
    if "assistant" not in roles:
        problems.append(Problem(file, line, "messages", "has no assistant turn (nothing to learn or score)"))
    elif roles[-1] != "assistant":
        problems.append(Problem(file, line, f"messages[{len(roles) - 1}].role",
                                f"the last message must be the assistant's, got {roles[-1]!r}"))
    if "user" not in roles:
        problems.append(Problem(file, line, "messages", "has no user turn"))
    for index in range(1, len(roles)):
        if roles[index] == roles[index - 1] and roles[index] != "system":
            problems.append(Problem(file, line, f"messages[{index}].role",
                                    f"two {roles[index]} messages in a row", "warning"))
    return cleaned if len(problems) == before or all(p.severity == "warning" for p in problems[before:]) else None


def _example_hash(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def validate_chat_jsonl(path: str | Path, tokenizer=None, max_tokens: int | None = None) -> ValidationReport:
    """Read and check a chat JSONL file; return the valid examples and every problem found.

    With a ``tokenizer`` and ``max_tokens``, examples longer than ``max_tokens`` (chat template
    applied when the tokenizer has one) are counted and reported as one warning, since training
    would truncate them.
    """
    path = Path(path)
    file = str(path)
    problems: list[Problem] = []
    examples: list[ChatExample] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataValidationError(f"{file}: no such file") from None
    except OSError as exc:
        raise DataValidationError(f"{file}: cannot read: {exc}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(Problem(file, 1, "<file>", "starts with a UTF-8 byte-order mark (BOM); it was ignored", "warning"))
        raw = raw[3:]
    seen: dict[str, int] = {}
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    blank = []
    for number, raw_line in enumerate(lines, start=1):
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(file, number, "<line>", f"is not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"))
            continue
        if not text.strip():
            blank.append(number)
            continue
        try:
            record = parse_json_value(text)
        except UntrustedInputError as exc:
            problems.append(Problem(file, number, "<line>", str(exc)))
            continue
        messages = _messages_from_record(record, file, number, problems)
        if messages is None:
            continue
        digest = _example_hash(messages)
        if digest in seen:
            problems.append(Problem(file, number, "<line>", f"duplicate of line {seen[digest]}", "warning"))
        else:
            seen[digest] = number
        meta = record.get("metadata") or record.get("meta") or {}
        examples.append(ChatExample(messages=messages, source=file, line=number,
                                    meta=meta if isinstance(meta, dict) else {}))
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (" ..." if len(blank) > 5 else "")
        problems.append(Problem(file, blank[0], "<line>", f"{len(blank)} blank line(s) skipped (lines {shown})", "warning"))
    if not examples and not any(p.severity == "error" for p in problems):
        problems.append(Problem(file, 1, "<file>", "holds no examples"))
    if tokenizer is not None and max_tokens:
        too_long = [e.line for e in examples if _token_count(tokenizer, e.messages) > max_tokens]
        if too_long:
            problems.append(Problem(file, too_long[0], "messages",
                                    f"{len(too_long)} example(s) exceed {max_tokens} tokens and would be truncated "
                                    f"(lines {', '.join(map(str, too_long[:5]))}{' ...' if len(too_long) > 5 else ''})",
                                    "warning"))
    problems.sort(key=lambda p: (p.line, p.severity != "error"))
    return ValidationReport(examples=examples, problems=problems)


def _token_count(tokenizer, messages: list[dict]) -> int:
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    else:
        text = "\n".join(m["content"] for m in messages)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def load_chat_jsonl(path: str | Path, tokenizer=None, max_tokens: int | None = None) -> list[ChatExample]:
    """Load a chat JSONL file, raising ``DataValidationError`` (every problem listed) on any error."""
    report = validate_chat_jsonl(path, tokenizer=tokenizer, max_tokens=max_tokens)
    if report.errors:
        lines = "\n".join(str(p) for p in report.errors)
        raise DataValidationError(f"{path}: {len(report.errors)} problem(s); nothing was loaded:\n{lines}",
                                  report.errors)
    return report.examples


def write_chat_jsonl(path: str | Path, examples: Iterable[ChatExample | list[dict]]) -> Path:
    """Write chats as OpenAI-style JSONL (one ``{"messages": [...]}`` per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for example in examples:
            record = example.to_json() if isinstance(example, ChatExample) else {"messages": example}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
