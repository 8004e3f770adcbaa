"""``CapabilityConfig``: the base of every capability's config model."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class CapabilityConfig(BaseModel):
    """Unknown keys are errors (a typo must not fall back to a default silently), and values are
    re-validated on assignment so a pipeline filling in a field cannot store a bad one.

    A field may carry ``json_schema_extra={"flag_aliases": ["--model"]}`` for a short extra flag
    spelling (the field's own name is always a flag too)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: the experiment.yaml section this capability reads (``audit``, ``train``...); a YAML file
    #: given with ``--config`` may hold the fields at top level or under this key.
    section: ClassVar[str] = ""
