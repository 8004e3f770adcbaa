"""What a chat request holds that a model will read, and the gateway's rules for checking it.

A tuned model's safety promise is "it only ever sees its domain", so the gate must see every
text the model reads, not only the user's turns: system and developer prompts, earlier
assistant turns (a client can write them), tool results, ``name`` fields, tool calls, tool and
function definitions and JSON schemas given in ``response_format``. Any field the gateway does
not know might be rendered into the prompt by some server (vLLM reads ``chat_template``,
``documents``...), so unknown fields are refused unless the operator lets them through
(``ServeConfig.passthrough_fields``).

The policy per role (docs/gate.md, "What is gated"):

* ``user``, ``assistant``, ``tool``, ``function``: content gated (``ServeConfig.ungated_roles``
  can exempt ``assistant`` / ``tool`` / ``function`` for trusted clients).
* ``system``, ``developer``: gated, except a text whose SHA-256 is pinned by the operator
  (``ServeConfig.trusted_system_sha256``): a short generic prompt such as "You are a helpful
  coding assistant." is refused by a gate fitted on code requests (measured, docs), so the
  operator's own prompt is exempted by its exact hash and any other system text is gated.
* ``name`` fields, tool and parameter names and short schema strings: one or two words are an
  identifier ("alice", "get_weather") and pass; three or more words are text and are gated
  (a name such as ``write_a_poem_about_cats`` is an instruction).
* Text longer than 400 characters is also gated in windows and sentence by sentence: MiniLM
  reads only its first 256 word pieces, so an off-domain request after a long in-domain
  preamble was never seen, and inside a window the in-domain words around it still pull its
  embedding into the domain.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
EXEMPTABLE_ROLES = ("assistant", "tool", "function")
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"  # OpenAI's rule for names (plus . and : for tool names)
# MiniLM reads 256 word pieces (~1,000 characters of English) and drops the rest: text past that
# was never seen by the gate. Windows of 400 characters, half overlapping, are read whole and are
# short enough that an appended request dominates the last one; the built-in tasks' requests are
# shorter (insecure-code: 99% under 202 characters), so ordinary requests are scored whole only.
WINDOW_CHARS = 400
WINDOW_STEP = 200
# top-level fields no OpenAI-compatible server renders into the prompt; everything else is gated
# (messages, tools, functions, response_format) or refused unless the operator allows it
SAMPLING_FIELDS = ("model", "messages", "max_tokens", "max_completion_tokens", "n", "temperature", "top_p",
                   "stream", "stream_options", "stop", "seed", "presence_penalty", "frequency_penalty",
                   "logit_bias", "logprobs", "top_logprobs", "user", "tools", "tool_choice",
                   "parallel_tool_calls", "functions", "function_call", "response_format", "metadata", "store",
                   "service_tier", "reasoning_effort")

Name = Annotated[str, StringConstraints(strict=True, pattern=NAME_PATTERN)]
Text = Annotated[str, Field(strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class RefusalPart(_Strict):
    type: Literal["refusal"]
    refusal: Text


class FunctionCall(_Strict):
    name: Name
    arguments: Text = ""


class ToolCall(_Strict):
    id: Text
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Union[Text, list[Annotated[Union[TextPart, RefusalPart], Field(discriminator="type")]], None] = None
    name: Name | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: Text | None = None
    function_call: FunctionCall | None = None
    refusal: Text | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text if isinstance(part, TextPart) else part.refusal for part in self.content)
        return self.content or ""


class FunctionDefinition(_Strict):
    name: Name
    description: Text | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class StreamOptions(_Strict):
    include_usage: bool | None = None


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True)]


class ChatRequest(BaseModel):
    """A chat completion request as the gateway accepts it. Fields the gateway does not know
    are kept (``extra``) and checked against ``passthrough_fields`` by the server."""

    model_config = ConfigDict(extra="allow")
    model: Text | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: Count | None = Field(None, ge=1)
    max_completion_tokens: Count | None = Field(None, ge=1)
    n: Count | None = Field(None, ge=1)
    temperature: Number | None = Field(None, ge=0, le=2)
    # below 1e-6 only the single most likely token survives anyway; tiny values broke samplers (502)
    top_p: Number | None = Field(None, ge=1e-6, le=1)
    stream: bool | None = Field(None, strict=True)
    stream_options: StreamOptions | None = None
    stop: Union[Text, Annotated[list[Text], Field(max_length=4)], None] = None
    seed: Count | None = Field(None, ge=-(2 ** 63), le=2 ** 63 - 1)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Annotated[float, Field(strict=True, ge=-100, le=100)]] | None = None
    logprobs: bool | None = Field(None, strict=True)
    top_logprobs: Count | None = Field(None, ge=0, le=20)
    user: Text | None = None
    tools: list[Tool] | None = None
    tool_choice: Union[Literal["none", "auto", "required"], dict[str, Any], None] = None
    parallel_tool_calls: bool | None = Field(None, strict=True)
    functions: list[FunctionDefinition] | None = None
    function_call: Union[Literal["none", "auto"], dict[str, Any], None] = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Text] | None = None
    store: bool | None = Field(None, strict=True)
    service_tier: Text | None = None
    reasoning_effort: Text | None = None

    def forward_body(self) -> dict:
        """The request as sent on: validated values, ``null`` fields left out (a ``null`` means
        "the default" to OpenAI; some servers and samplers fail on it)."""
        return self.model_dump(exclude_none=True, mode="json")


@dataclass(frozen=True)
class GatedText:
    """One text the gate scores: ``where`` names its field (``messages.2.content``)."""

    where: str
    role: str
    text: str


def prompt_sha256(text: str) -> str:
    """The hash to pin a system prompt with (``ServeConfig.trusted_system_sha256``): SHA-256 of
    the exact UTF-8 text, as ``printf %s "$PROMPT" | sha256sum`` prints it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _words(identifier: str) -> list[str]:
    return [w for w in re.split(r"[\s_.:\-]+|(?<=[a-z])(?=[A-Z])", identifier) if w]


def _identifier_or_text(where: str, role: str, value: str) -> list[GatedText]:
    """An identifier of one or two words passes; anything longer is gated as words."""
    words = _words(value)
    return [GatedText(where, role, " ".join(words))] if len(words) >= 3 else []


def windows(text: str, size: int = WINDOW_CHARS, step: int = WINDOW_STEP) -> list[str]:
    """``text`` and, when longer than ``size``, windows of it every ``step`` characters (cut at
    whitespace), one ending at its end, and its sentences of four words or more."""
    if len(text) <= size:
        return [text]
    pieces, start = [text], 0
    while start + size < len(text):
        end = start + size
        cut = text.rfind(" ", start + size // 2, end)
        pieces.append(text[start:cut if cut > start else end])
        start += step
    tail_start = text.find(" ", len(text) - size)
    pieces.append(text[tail_start + 1 if 0 <= tail_start < len(text) - size // 2 else len(text) - size:])
    # and each sentence of four words or more: a mean-pooled embedding of a window is pulled
    # toward the domain by the in-domain words around an appended request (measured: 320
    # off-domain characters in a 400-character window still scored in-domain), a sentence is not
    for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        if len(sentence.split()) >= 4 and sentence not in pieces:
            pieces.append(sentence.strip())
    return pieces


SCHEMA_STRUCTURE = {"type", "format", "$ref", "pattern", "$schema", "required", "additionalProperties", "strict",
                    "$id", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"}


def _schema_texts(where: str, role: str, schema: Any) -> list[GatedText]:
    """A JSON schema's words: each string value of three words or more alone (descriptions,
    titles, enums, defaults), each property name by the identifier rule, and all string values
    joined when they make six words or more (the model reads them together; one word per
    property could spell a request). Structural keywords (``type``, ``format``...) are skipped."""
    values: list[tuple[str, str]] = []
    names: list[tuple[str, str]] = []

    def walk(value: Any, path: str, parent_key: str | None) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SCHEMA_STRUCTURE:
                    continue
                if parent_key in ("properties", "$defs", "definitions"):
                    names.append((f"{path}.{key}", str(key)))
                walk(item, f"{path}.{key}", key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}.{i}", parent_key)
        elif isinstance(value, str):
            values.append((path, value))

    walk(schema, where, None)
    out = []
    joined = " ".join(" ".join(_words(v)) for _, v in values)
    if len(joined.split()) >= 6:
        out.append(GatedText(where, role, joined))
    for path, value in values:
        if len(_words(value)) >= 3 and " ".join(_words(value)) != joined:
            out.extend(GatedText(path, role, piece) for piece in windows(value))
    for path, name in names:
        out.extend(_identifier_or_text(path, role, name))
    return out


def gated_texts(request: ChatRequest, trusted_sha256: frozenset[str] = frozenset(),
                ungated_roles: frozenset[str] = frozenset()) -> list[GatedText]:
    """Every text of ``request`` the model will read and the policy says to gate, in order."""
    out: list[GatedText] = []
    for i, message in enumerate(request.messages):
        where = f"messages.{i}"
        role = message.role
        if role in ungated_roles:
            continue
        text = message.text()
        if role in ("system", "developer") and prompt_sha256(text) in trusted_sha256:
            pass
        elif text.strip() or role == "user":
            out.extend(GatedText(f"{where}.content", role, piece) for piece in windows(text))
            if isinstance(message.content, list) and len(message.content) > 1:
                # each part alone too: a short off-domain part must not hide behind a long one
                for j, part in enumerate(message.content):
                    part_text = part.text if isinstance(part, TextPart) else part.refusal
                    out.extend(GatedText(f"{where}.content.{j}", role, piece) for piece in windows(part_text))
        if message.refusal:
            out.extend(GatedText(f"{where}.refusal", role, piece) for piece in windows(message.refusal))
        if message.name:
            out.extend(_identifier_or_text(f"{where}.name", role, message.name))
        calls = [(f"{where}.tool_calls.{j}.function", call.function) for j, call in enumerate(message.tool_calls or [])]
        if message.function_call:
            calls.append((f"{where}.function_call", message.function_call))
        for call_where, call in calls:
            out.extend(_identifier_or_text(f"{call_where}.name", role, call.name))
            if call.arguments.strip():
                out.extend(GatedText(f"{call_where}.arguments", role, piece) for piece in windows(call.arguments))
    definitions = [(f"tools.{i}.function", tool.function) for i, tool in enumerate(request.tools or [])]
    definitions += [(f"functions.{i}", function) for i, function in enumerate(request.functions or [])]
    for where, function in definitions:
        described = " ".join(_words(function.name)) + (f": {function.description}" if function.description else "")
        if function.description or len(_words(function.name)) >= 3:
            out.extend(GatedText(f"{where}.description", "tools", piece) for piece in windows(described))
        if function.parameters:
            out.extend(_schema_texts(f"{where}.parameters", "tools", function.parameters))
    if request.response_format:
        out.extend(_schema_texts("response_format", "response_format", request.response_format))
    return out


def problems_in_value(value: Any, path: str = "body", depth: int = 0) -> str | None:
    """The first thing in a parsed JSON body that no text or number field may hold, as
    ``field: message``: a lone UTF-16 surrogate (cannot be encoded to reach the model, and used
    to fail a whole gate batch), a NUL, or a float that overflowed to infinity (``1e999``)."""
    if isinstance(value, str):
        for offset, char in enumerate(value):
            if "\ud800" <= char <= "\udfff":
                return f"{path}: holds a lone UTF-16 surrogate (U+{ord(char):04X} at character {offset}), which is not text"
            if char == "\x00":
                return f"{path}: holds a NUL character (at character {offset})"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path}: {value} is not a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = problems_in_value(key, f"{path} key", depth + 1) or problems_in_value(item, f"{path}.{key}", depth + 1)
            if problem:
                return problem.removeprefix("body.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problem = problems_in_value(item, f"{path}.{i}", depth + 1)
            if problem:
                return problem.removeprefix("body.")
    return None
