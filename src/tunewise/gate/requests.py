"""Reading a chat request off the wire and the gateway's error answers (split out of
``server.py``): every client error is a 4xx JSON body in the OpenAI error shape naming the field
(``error.param``), and nothing here ever lets a traceback reach the client.

Order of checks, each cheap before the next: body size and body-read time (counted while
reading, so a huge or trickled body is cut off early), UTF-8, JSON with bounded depth and number
size, text checks (lone surrogates, NUL), schema validation, unknown fields, then the limits
(messages, characters, gated texts, tokens).
"""

from __future__ import annotations

import asyncio
import json

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tunewise.data.untrusted import UntrustedInputError, parse_json_value
from tunewise.gate.conversation import ChatRequest, problems_in_value
from tunewise.gate.http_client import within


def error_response(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None,
                   param: str | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code or kind, "param": param, **extra}},
                        status_code=status, headers=headers)


def invalid(message: str, param: str | None = None, code: str = "invalid_request") -> JSONResponse:
    return error_response(400, message, "invalid_request_error", code, param=param)


def field_name(loc) -> str:
    """A pydantic error location as the client wrote it: ``messages.0.content`` (union branch
    names such as ``str`` or ``list[...]`` left out)."""
    parts = [str(p) for p in loc if isinstance(p, int) or not any(c in str(p) for c in "[]()'\" ")]
    parts = [p for p in parts if p not in ("str", "int", "float", "bool", "dict", "list", "none", "function-after",
                                           "constrained-str", "literal")]
    parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]  # tagged unions repeat the tag
    return ".".join(parts) or "body"


def sse(event) -> bytes:
    return f"data: {event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)}\n\n".encode()


class _TooLarge(Exception):
    pass


async def _read_body(request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_chat_request(request, config, known_fields: set[str]):
    """(ChatRequest, None) or (None, a 4xx response naming what is wrong)."""
    try:
        raw = await within(_read_body(request, config.max_body_bytes), config.body_timeout_s)
    except _TooLarge:
        return None, error_response(413, f"request body larger than {config.max_body_bytes} bytes",
                                    "invalid_request_error", "request_too_large")
    except asyncio.TimeoutError:
        return None, error_response(408, f"request body not received within {config.body_timeout_s}s",
                                    "invalid_request_error", "request_timeout")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, invalid(f"request body is not UTF-8 (byte {exc.start})", code="invalid_json")
    try:
        payload = parse_json_value(text)
    except UntrustedInputError as exc:
        return None, invalid(f"request body is not acceptable JSON: {exc}", code="invalid_json")
    if not isinstance(payload, dict):
        return None, invalid(f"request body must be a JSON object, got a JSON {type(payload).__name__}", "body")
    problem = problems_in_value(payload)
    if problem:
        return None, invalid(problem, problem.split(":", 1)[0].removesuffix(" key"))
    try:
        chat = ChatRequest.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = list(dict.fromkeys(f"{field_name(e['loc'])}: {e['msg']}" for e in errors))
        return None, invalid("invalid chat request: " + "; ".join(problems[:5])
                             + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""),
                             field_name(errors[0]["loc"]))
    unknown = sorted(set(chat.model_extra or {}) - known_fields)
    if unknown:
        return None, invalid(f"{unknown[0]}: field not accepted by this gateway (a server could render it "
                             "into the prompt without the gate seeing it); the operator can allow it with "
                             "passthrough_fields", unknown[0], "unknown_field")
    return chat, None


def check_limits(chat: ChatRequest, gated, config, tokenizer) -> tuple[str, str] | None:
    """(field, message) for the first limit ``chat`` exceeds, else None."""
    if len(chat.messages) > config.max_messages:
        return "messages", f"{len(chat.messages)} messages; this gateway accepts at most {config.max_messages}"
    definitions = json.dumps([chat.tools, chat.functions, chat.response_format], default=str)
    chars = sum(len(m.text()) for m in chat.messages) + (len(definitions) if chat.tools or chat.functions
                                                          or chat.response_format else 0)
    if chars > config.max_input_chars:
        return "messages", (f"messages and definitions hold {chars} characters; this gateway accepts at most "
                            f"{config.max_input_chars}")
    if len(gated) > config.max_gated_texts:
        return "messages", (f"the request holds {len(gated)} texts to gate; this gateway accepts at most "
                            f"{config.max_gated_texts}")
    asked = chat.max_completion_tokens or chat.max_tokens
    if asked is not None and asked > config.max_completion_tokens:
        field = "max_completion_tokens" if chat.max_completion_tokens else "max_tokens"
        return field, f"max_tokens {asked} is above this gateway's limit of {config.max_completion_tokens}"
    if (chat.n or 1) > config.max_n:
        return "n", f"n={chat.n} is above this gateway's limit of {config.max_n}"
    if config.max_prompt_tokens and tokenizer is not None:
        count = sum(len(tokenizer(m.text(), add_special_tokens=False)["input_ids"]) for m in chat.messages)
        if count > config.max_prompt_tokens:
            return "messages", f"messages hold {count} tokens; this gateway accepts at most {config.max_prompt_tokens}"
    return None
