"""``GateConfig``: every setting of the gate capability, in one place.

The fields are the flags of ``tunewise gate fit`` / ``tunewise gate eval``, the keys of the
``gate:`` section of ``experiment.yaml`` and the keywords of ``GateConfig(...)``; ``run_gate``
reads nothing else. Defaults that used to differ between the CLI and the experiment file were
unified here (docs/gate.md, "Defaults").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tunewise.config import CapabilityConfig

STEPS = ("fit", "eval")


class GateConfig(CapabilityConfig):
    """A domain gate fitted on the task's user messages, calibrated, then measured against
    out-of-domain sets (``tunewise.gate``)."""

    section = "gate"

    data: str | None = Field(None, description=(
        "in-domain inputs to fit on: task:<built-in narrow dataset> (or its bare name), a chat .jsonl "
        "(user messages) or a .txt (one input per line); needed to fit"))
    n: int | None = Field(None, ge=1, description="use at most this many in-domain chats/lines (None: all)")
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0, description=(
        "share of the distinct in-domain inputs kept out of fitting and calibration, for the evaluation"))
    calibration: Literal["cross-fit", "holdout"] = Field("cross-fit", description=(
        "how the threshold is set: cross-fit (every fit input scored out of fold, split-conformal threshold, "
        "detectors then fitted on all) or holdout (holdout_fraction held out of the detectors)"))
    folds: int = Field(5, ge=2, description="folds for calibration=cross-fit")
    holdout_fraction: float = Field(0.2, gt=0.0, lt=1.0, description=(
        "with calibration=holdout: share of the remaining inputs held out of the detectors to set the threshold"))
    target_false_reject_rate: float = Field(0.01, gt=0.0, lt=1.0, description=(
        "the share of in-domain requests the gate may refuse; sets the threshold"))
    embedder: Literal["minilm", "minilm-onnx-int8"] | None = Field(None, description=(
        "sentence embedder the detectors work on: minilm-onnx-int8 (MiniLM in ONNX Runtime, int8, ~4x faster) or "
        "minilm (sentence-transformers/torch); None: minilm-onnx-int8 for a new gate, the gate's own for eval; "
        "a saved gate fitted with another one is refused (refit it)"))
    k: int = Field(5, ge=1, description="neighbours for the kNN detector")
    seed: int = Field(0, description="seed for the splits, the built-in sets' samples and the hard cases")
    tuned_model: str | None = Field(None, description=(
        "tuned model reference: with base_model adds the likelihood-ratio signal (two forward passes per input)"))
    base_model: str | None = Field(None, description="base model reference for the likelihood-ratio signal")
    ood_sets: list[str] | None = Field(None, description=(
        "out-of-domain sets to evaluate: probes:<set>, task:<name>, builtin (every built-in set) or a file "
        "(.jsonl chats / .txt lines); None: every built-in set"), json_schema_extra={"flag_aliases": ["--ood"]})
    hard_cases: bool = Field(True, description=(
        "also evaluate generated hard cases (prefix injection, keyword stuffing, paraphrases, other languages)"))
    n_per_set: int = Field(200, ge=1, description="most texts per out-of-domain set")
    eval_data: str | None = Field(None, description=(
        "in-domain inputs the gate was not fitted on, for the evaluation (default: the gate's eval_inputs.json)"))
    gate_dir: str | None = Field(None, description="gate folder to write and read (default: <run_dir>/gate)")
    steps: list[Literal["fit", "eval"]] = Field(list(STEPS), min_length=1, description=(
        "what to run: fit (and save the gate), eval (measure the saved gate), or both"))

    @field_validator("data")
    @classmethod
    def _known_dataset(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("task:"):
            from tunewise.gate.sources import builtin_dataset

            _as_value_error(builtin_dataset, value)
        return value

    @field_validator("ood_sets")
    @classmethod
    def _known_sets(cls, value: list[str] | None) -> list[str] | None:
        from tunewise.gate.sources import check_set_name

        for name in value or ():
            _as_value_error(check_set_name, name)
        return value

    @model_validator(mode="after")
    def _likelihood_pair(self) -> "GateConfig":
        if bool(self.tuned_model) != bool(self.base_model):
            raise ValueError("tuned_model and base_model: the likelihood-ratio signal needs both (or neither)")
        return self

    @field_validator("steps")
    @classmethod
    def _steps_in_order(cls, value: list[str]) -> list[str]:
        return [step for step in STEPS if step in value]  # fit always before eval, each once


def _as_value_error(check, value) -> None:
    """Run a registry check; pydantic reports ValueErrors per field, so re-raise its ConfigError as one."""
    from tunewise.errors import ConfigError

    try:
        check(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
