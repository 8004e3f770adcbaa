"""The one formatter of validation errors: ``file:line: field: message``, with a did-you-mean.

Every loader (experiment YAML, ``--config`` files, command-line flags) reports pydantic errors
through ``format_problems`` so the user reads the same shape everywhere.
"""

from __future__ import annotations

import difflib
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from tunewise.errors import ConfigError


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last part of ``loc`` (for did-you-mean)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        for candidate in list(candidates):
            candidates += list(getattr(candidate, "__args__", ()))
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return None
    return current


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def format_problems(error: ValidationError, source: str, model: type[BaseModel], lines: dict[tuple, int] | None = None,
                    prefix: tuple = (), flags: dict[str, str] | None = None) -> list[str]:
    """One line per pydantic error. ``lines`` maps key paths to YAML lines; ``prefix`` is where the
    validated mapping sits in the file (``("audit",)``); ``flags`` maps field names given on the
    command line to their flag, so their errors name the flag instead of a file line."""
    problems = []
    lines = lines or {}
    for item in error.errors():
        loc = tuple(item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            message = "unknown field" + did_you_mean(str(loc[-1]), list(getattr(owner, "model_fields", {})))
        elif item["type"] == "missing":
            message = "required field is missing"
        elif "input" in item and item["type"] != "value_error" and not isinstance(item["input"], dict):
            message += f" (got {item['input']!r})"
        message = message.removeprefix("Value error, ")
        field = ".".join(str(p) for p in prefix + loc) or "(top level)"
        if flags and loc and loc[0] in flags:
            problems.append(f"{flags[loc[0]]}: {message}")
            continue
        full = prefix + loc
        line = next((lines[full[:i]] for i in range(len(full), -1, -1) if full[:i] in lines), 1)
        problems.append(f"{source}:{line}: {field}: {message}")
    return problems


def raise_config_error(error: ValidationError, source: str, model: type[BaseModel], **kwargs) -> NoReturn:
    """Raise one ConfigError listing every problem (exit code 2 in the CLI, no traceback)."""
    problems = format_problems(error, source, model, **kwargs)
    if len(problems) == 1:
        raise ConfigError(problems[0]) from None
    raise ConfigError(f"{len(problems)} problems:\n  " + "\n  ".join(problems)) from None
