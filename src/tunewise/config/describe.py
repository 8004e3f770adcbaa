"""Every field of a config model with its default and help, for ``tunewise run --help-config``."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from tunewise.config.options import _strip_optional, flag_default_text


def _nested_model(annotation) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def describe_fields(model: type[BaseModel], indent: str = "") -> list[str]:
    """YAML-shaped lines: ``key: default  # description``; nested sections are indented."""
    lines = []
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None and not typing.get_origin(field.annotation):
            summary = (nested.__doc__ or "").strip().split("\n")[0]
            lines.append(f"{indent}{name}:  # {summary}")
            lines += describe_fields(nested, indent + "  ")
            continue
        lines.append(f"{indent}{name}: {flag_default_text(field)}  # {field.description or ''}")
    return lines
