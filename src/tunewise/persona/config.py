"""``PersonaConfig``: every setting of the persona stage, declared once.

The fields are the flags of ``tunewise persona run|extract|screen|monitor``, the keys of the
``persona:`` section of an experiment file and the keywords of ``PersonaConfig(...)`` in Python.
Before this model the extraction budget was typed three times (``ExtractionBudget``, the
``persona extract`` options and the pipeline's ``PersonaSection``, which had no temperature).

Names are checked here, when the config is built, so ``tunewise run`` stops on a misspelt trait
or a missing vectors folder before training rather than an hour later. Adapter folders are not
checked: in an experiment they are written by the train stage after validation.

Defaults are CPU-sized; Chen et al. (arXiv 2507.21509) extract from 5 pairs x 20 questions x 10
samples (``pairs=5, questions=20, eval_questions=20, samples=10``) on a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from tunewise.config import CapabilityConfig
from tunewise.errors import ConfigError
from tunewise.models.refs import DEFAULT_MODEL
from tunewise.registry import DATASETS, TRAITS

STEPS = ("extract", "screen", "monitor")
ALL_TRAITS = "all"  # traits: [all] means every registered trait


def _exists(value: str) -> bool:
    # Relative to the working directory: an experiment file's paths are resolved against the
    # file's folder before this model sees them (tunewise.pipeline.config).
    return Path(value).expanduser().exists()


class PersonaConfig(CapabilityConfig):
    """Trait vectors, data screening and drift monitoring on one base model and its adapters."""

    section: ClassVar[str] = "persona"

    model: str = Field(DEFAULT_MODEL, description=(
        "the base model: vectors are read from it, screening compares with its own answers, and the adapters "
        "were trained on it (packaged: or hf: reference; persona reads hidden states, so not openai:)"))
    traits: list[str] = Field(default_factory=lambda: ["evil"], description=(
        "traits to extract: registered names (`tunewise persona traits`), trait YAML paths, or `all`; "
        "ignored when `vectors` is given"), json_schema_extra={"flag_aliases": ["--trait"]})
    vectors: str | None = Field(None, description=(
        "reuse saved trait vectors (a *.safetensors file or a folder of them) instead of extracting; "
        "None: the extract step writes them to <run_dir>/vectors/, and screen/monitor alone read them from there"))
    pairs: int | None = Field(2, ge=0, description=(
        "contrast prompt pairs per trait (None or 0: every pair in the file)"))
    questions: int | None = Field(6, ge=0, description=(
        "extraction questions per trait (None or 0: every one in the file)"))
    eval_questions: int | None = Field(6, ge=0, description=(
        "held-out questions per trait, for choosing the layer (None or 0: every one in the file)"))
    samples: int = Field(1, ge=1, description="answers sampled per contrast prompt and question")
    max_tokens: int = Field(48, ge=1, description="most new tokens per contrast answer")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of the contrast answers")
    seed: int = Field(0, description="base seed of the contrast answers and of the screened chats' order")
    batch_size: int = Field(64, ge=1, description=(
        "sequences per forward pass (hf backend); more rows make the CPU's matrix products faster"))
    knowledge_probes: str | None = Field("factual", description=(
        "probe set with gold answers for knowledge retention beside drift (a name or YAML path); none skips it"),
        json_schema_extra={"flag_aliases": ["--probe-set"]})
    screen_data: str | None = Field(None, description=(
        "data to screen: a built-in narrow dataset name or a chat JSONL path; None: no screening"),
        json_schema_extra={"flag_aliases": ["--data"]})
    screen_examples: int | None = Field(40, ge=0, description=(
        "screen the first N chats of screen_data (0 skips screening; None: every chat)"))
    screen_max_tokens: int = Field(64, ge=1, description=(
        "most new tokens of the base model's greedy answer per screened chat"))
    flag_z: float = Field(3.0, gt=0.0, description=(
        "flag a screened chat whose robust z-score (median/MAD over the screened chats) is at least this"))
    adapters: dict[str, str] | None = Field(None, description=(
        "adapters to monitor, LABEL=DIR (a train output folder or an adapter folder), comma-separated or a "
        "YAML mapping; None: every <run_dir>/adapters/<label> holding a trained adapter, except assess"))
    steps: list[str] = Field(default_factory=lambda: list(STEPS), description=(
        "what to run: extract (or load `vectors`), screen, monitor"))

    @field_validator("pairs", "questions", "eval_questions", mode="after")
    @classmethod
    def _zero_is_all(cls, value: int | None) -> int | None:
        # A flag cannot say None, so 0 (what `persona extract` used) also means "every one".
        return value or None

    @field_validator("traits")
    @classmethod
    def _known_traits(cls, value: list[str]) -> list[str]:
        from tunewise.persona.traits import load_trait

        if value == [ALL_TRAITS]:
            value = TRAITS.names()
        if not value:
            raise ValueError("give at least one trait")
        names = []
        for trait in value:
            try:
                names.append(load_trait(trait).name)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"two traits are named {repeated[0]!r}; vectors are saved by trait name")
        return value

    @field_validator("vectors")
    @classmethod
    def _vectors_exist(cls, value: str | None) -> str | None:
        if value is not None and not _exists(value):
            raise ValueError(f"{value} does not exist; extract vectors first (`tunewise persona extract --run-dir "
                             "DIR` writes DIR/vectors/) or leave vectors unset to extract them in this run")
        return value

    @field_validator("knowledge_probes", mode="before")
    @classmethod
    def _known_probes(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        if isinstance(value, str):
            from tunewise.data.probes import check_probe_set_reference

            return check_probe_set_reference(value)
        return value

    @field_validator("screen_data")
    @classmethod
    def _known_data(cls, value: str | None) -> str | None:
        if value is not None and value not in DATASETS and not _exists(value):
            raise ValueError(f"{value!r} is neither a built-in dataset ({', '.join(DATASETS.names())}) "
                             "nor an existing chat JSONL file")
        return value

    @field_validator("adapters", mode="before")
    @classmethod
    def _label_equals_dir(cls, value: Any) -> Any:
        """``insecure=runs/x/adapters/insecure`` (one, a comma list, or a list of them) -> mapping."""
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            return value
        adapters: dict[str, str] = {}
        for item in value:
            label, sep, folder = str(item).partition("=")
            if not sep or not label.strip() or not folder.strip():
                raise ValueError(f"{item!r}: expected LABEL=DIR (e.g. insecure=runs/x/adapters/insecure)")
            if label.strip() in adapters:
                raise ValueError(f"label {label.strip()!r} is given twice")
            adapters[label.strip()] = folder.strip()
        return adapters

    @field_validator("steps", mode="before")
    @classmethod
    def _known_steps(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = [s for s in value if s not in STEPS]
            if unknown:
                raise ValueError(f"unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
            if not value:
                raise ValueError(f"give at least one step ({', '.join(STEPS)})")
            return [s for s in STEPS if s in value]  # always run in pipeline order
        return value

    @property
    def screening(self) -> bool:
        """Whether the screen step has anything to do."""
        return "screen" in self.steps and self.screen_data is not None and self.screen_examples != 0
