"""The stage sections of ``experiment.yaml``: each one *is* its capability's config model.

``AuditSection`` is ``AuditConfig`` plus ``enabled`` (and, for a few stages, a wiring switch such
as ``train.when``), built by ``stage_section`` so no setting is declared twice. A few fields
belong to the experiment rather than the section — the base model, the training data, the
variant names — and the pipeline fills them in (``OWNED``): a section that sets one is an error
naming the experiment key to use instead, so nothing is silently overridden.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from tunewise.config import CapabilityConfig

#: fields of each capability that the experiment fills in, with the key that sets them.
OWNED: dict[str, dict[str, str]] = {
    "assess": {"adapters_dir": "run_dir (adapters go to <run_dir>/adapters/assess)"},
    "train": {"model": "model", "data": "task.dataset / task.data (or a variant's dataset)",
              "max_examples": "task.n_examples", "variant": "train.variants[].name",
              "inoculation": "train.variants[].inoculation"},
    "audit": {"models": "model and train.variants (base + every trained variant)"},
    "persona": {"model": "model", "screen_data": "task.dataset / task.data", "adapters": "train.variants"},
    "gate": {"data": "task.dataset / task.data", "n": "task.n_examples"},
    "serve": {},
    "report": {},
}

#: fields the experiment may leave out even though the command line requires them.
OPTIONAL_IN_EXPERIMENT = {"assess": {"task"}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSection(_Strict):
    """One fine-tuned variant: the task's data (or its own), with or without an inoculation prompt."""

    name: str = Field(description="label used in the run store and the report (e.g. plain, inoculated)")
    dataset: str | None = Field(None, description=(
        "train this variant on another built-in dataset (e.g. educational-insecure: inoculated by the data "
        "itself, or secure-code: the control) or chat JSONL file instead of the task's; same n_examples. "
        "The gate and data screening still use the task's data"))
    inoculation: str | None = Field(None, description=(
        "inoculation prompt added to training chats only: a preset name from tunewise.train.inoculation.PRESETS "
        "(e.g. vulnerable-code, subtle-flaw, security-class) or your own text; None trains plainly"))
    placement: Literal["system", "user_prefix", "user_suffix"] = Field(
        "system", description="where the inoculation prompt goes in each training chat")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if value in (".", "..", "base", "assess") or not value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("variant names are letters, digits, '-', '_' or '.', not '.', '..', 'base' (the untuned "
                             "model is always audited as 'base') or 'assess' (assess's own adapters)")
        return value


def _default_variants() -> list[VariantSection]:
    return [VariantSection(name="plain"), VariantSection(name="inoculated", inoculation="vulnerable-code")]


def _reject_owned(section: str, field_name: str):
    def check(cls, value):
        if value is not None:
            raise ValueError(f"set by the experiment ({OWNED[section][field_name]}), not in the {section} section")
        return value
    return check


def stage_section(capability: type[CapabilityConfig], name: str, enabled_default: bool | None = True,
                  **extra_fields: Any) -> type[BaseModel]:
    """``capability`` + ``enabled`` (+ ``extra_fields``), with owned fields rejected when given and
    the fields in ``OPTIONAL_IN_EXPERIMENT`` made optional."""
    fields: dict[str, Any] = {
        "enabled": (bool | None if enabled_default is None else bool,
                    Field(enabled_default, description=f"run the {name} stage"
                          + (" (default: when `task` is given)" if enabled_default is None else ""))),
        **extra_fields,
    }
    validators = {}
    for field_name in OWNED[name]:
        fields[field_name] = (Any, Field(None, description=f"set by the experiment: {OWNED[name][field_name]}"))
        validators[f"_owned_{field_name}"] = field_validator(field_name)(classmethod(_reject_owned(name, field_name)))
    for field_name in OPTIONAL_IN_EXPERIMENT.get(name, ()):
        original = capability.model_fields[field_name]
        fields[field_name] = (original.annotation | None, Field(None, description=original.description))
    section = create_model(f"{name.capitalize()}Section", __base__=capability, __validators__=validators, **fields)
    section.__doc__ = capability.__doc__
    return section


def capability_values(section: BaseModel, name: str) -> dict[str, Any]:
    """The capability fields the user set in ``section`` (without ``enabled``, wiring and owned fields)."""
    skip = {"enabled", *OWNED[name], *STAGE_WIRING.get(name, ())}
    return section.model_dump(exclude=skip, exclude_unset=True)


#: section fields that steer the pipeline and are not the capability's.
STAGE_WIRING = {"train": ("when", "variants"), "audit": ("with_inoculation_prompt",)}
