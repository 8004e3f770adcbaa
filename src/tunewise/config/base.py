"""``CapabilityConfig``: the base of every capability's config model."""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _numeric_kind(annotation: Any) -> type | None:
    """``int`` or ``float`` when a field holds one number (optionally None), else None."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation if annotation in (int, float) else None


class StrictNumbers(BaseModel):
    """Numbers are strict: ``samples: "100"``, ``samples: true`` or ``samples: 1e23`` (a string to
    YAML) are errors, not silently turned into numbers; an int is accepted where a float is
    wanted. Every model that reads a user's file derives from it."""

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kind = _numeric_kind(field.annotation) if field is not None else None
        if kind is None or value is None:
            return value
        if isinstance(value, (bool, str)) or (kind is int and isinstance(value, float)):
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, got {type(value).__name__} "
                             f"{value!r} (write the number itself, without quotes)")
        return value


class CapabilityConfig(StrictNumbers):
    """Unknown keys are errors (a typo must not fall back to a default silently), and values are
    re-validated on assignment so a pipeline filling in a field cannot store a bad one; numbers
    are strict (``StrictNumbers``). A field may carry ``json_schema_extra={"flag_aliases": ["--model"]}`` for a short
    extra flag spelling (the field's own name is always a flag too)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: the experiment.yaml section this capability reads (``audit``, ``train``...); a YAML file
    #: given with ``--config`` may hold the fields at top level or under this key.
    section: ClassVar[str] = ""
