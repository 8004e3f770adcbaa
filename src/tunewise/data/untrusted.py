"""Untrusted text and JSON: the checks every loader of user files applies before using a value.

User files and model outputs are untrusted (DESIGN): a line of JSON may nest 100,000 levels
deep (Python's parser then raises RecursionError), hold a 5,000-digit integer (ValueError past
4,300 digits), or carry text that breaks later steps — a lone UTF-16 surrogate cannot be encoded
as UTF-8 at all (hashing, the store and HTTP all fail on it), NUL and escape characters corrupt
terminals and logs, and right-to-left overrides make a line read differently from what it holds
("Trojan Source"). These functions turn each into a message the loader reports as
``file:line: field: message`` instead of a traceback.
"""

from __future__ import annotations

import json
import unicodedata

MAX_LINE_CHARS = 2_000_000
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
ALLOWED_CONTROLS = {"\n", "\t", "\r"}
BIDI_OVERRIDES = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


class UntrustedInputError(ValueError):
    """A value that cannot be used safely; the message says why in the user's words."""


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (checked before parsing, so the parser never recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise UntrustedInputError(f"a number with {digits} digits; at most {MAX_NUMBER_DIGITS} are accepted")
    return int(text)


def _finite_only(name: str):
    raise UntrustedInputError(f"{name} is not a JSON number; give a finite value")


def parse_json_value(text: str):
    """``json.loads`` with bounded size, depth and number length, and no NaN/Infinity."""
    if len(text) > MAX_LINE_CHARS:
        raise UntrustedInputError(f"{len(text)} characters on one line; at most {MAX_LINE_CHARS} are accepted")
    depth = _nesting_depth(text)
    if depth > MAX_DEPTH:
        raise UntrustedInputError(f"nested {depth} levels deep; at most {MAX_DEPTH} are accepted")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_finite_only)
    except json.JSONDecodeError as exc:
        raise UntrustedInputError(f"bad JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise UntrustedInputError(f"nested too deep to read (at most {MAX_DEPTH} levels)") from None


def text_problems(value: str) -> list[tuple[str, str]]:
    """[(severity, message)] for one text: lone surrogates and NUL are errors (the text cannot be
    stored or shown faithfully); other control characters and direction overrides are warnings."""
    problems = []
    surrogate = next((i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:
        problems.append(("error", f"holds a lone UTF-16 surrogate (U+{ord(value[surrogate]):04X} at character "
                                  f"{surrogate}), which is not text; fix the file's encoding"))
    if "\x00" in value:
        problems.append(("error", f"holds a NUL character (at character {value.index(chr(0))})"))
    controls = sorted({c for c in value if unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS
                       and c != "\x00"})
    if controls:
        shown = ", ".join(f"U+{ord(c):04X}" for c in controls[:5])
        problems.append(("warning", f"holds control character(s) {shown}; they reach the model as they are"))
    overrides = sorted({c for c in value if c in BIDI_OVERRIDES})
    if overrides:
        shown = ", ".join(f"U+{ord(c):04X}" for c in overrides)
        problems.append(("warning", f"holds text-direction override(s) {shown}: what is shown may differ from "
                                    "what the model reads"))
    return problems
