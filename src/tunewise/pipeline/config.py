"""``experiment.yaml``: one pydantic model for the whole workflow (assess -> train -> audit ->
persona -> gate -> report).

Each stage section *is* that capability's config model (``audit:`` holds ``AuditConfig`` fields,
``train:`` ``TrainConfig`` fields, ...) plus ``enabled``, so a setting has one name, one default
and one help text in Python, on the command line and here (``tunewise run --help-config`` prints
them all). Unknown keys are errors, not ignored: a typo such as ``sampels: 100`` fails with the
file, the line, the field and the closest known name. Values are checked when the file is
loaded, so a bad one fails before an hour of sampling, not after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunewise.assess.config import AssessConfig
from tunewise.audit.config import AuditConfig
from tunewise.config import describe_fields as describe_model
from tunewise.config import StrictNumbers, parse_yaml, raise_config_error, read_text_file
from tunewise.errors import ConfigError
from tunewise.gate.config import GateConfig
from tunewise.models.refs import DEFAULT_MODEL
from tunewise.persona.config import PersonaConfig
from tunewise.pipeline.sections import OWNED, VariantSection, _default_variants, stage_section
from tunewise.registry import DATASETS
from tunewise.report.config import ReportConfig
from tunewise.train.config import TrainConfig

CAPABILITIES: dict[str, type[BaseModel]] = {"assess": AssessConfig, "train": TrainConfig, "audit": AuditConfig,
                                            "persona": PersonaConfig, "gate": GateConfig, "report": ReportConfig}


class TaskSection(StrictNumbers):
    """The narrow fine-tuning task: the data that is trained on, and whose inputs define the gate's domain."""

    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field("insecure-code", description=(
        "built-in narrow dataset (tunewise.registry.DATASETS: insecure-code, secure-code, educational-insecure, "
        "bad-medical, extreme-sports, risky-financial and their sound twins sound-medical, safe-sports, "
        "sound-financial); ignored when `data` is given"))
    data: str | None = Field(None, description="chat JSONL file to train on instead of a built-in dataset "
                                               "(relative paths are relative to the experiment file)")
    n_examples: int | None = Field(200, ge=1, description="use this many training chats (None: all)")

    @property
    def source(self) -> str:
        """The dataset name or JSONL path the stages read."""
        return self.data or self.dataset or ""


AssessSection = stage_section(AssessConfig, "assess", enabled_default=None)
AuditSection = stage_section(AuditConfig, "audit", with_inoculation_prompt=(bool, Field(True, description=(
    "also audit each inoculated variant with its inoculation prompt present at test time, because the prompt "
    "can become a trigger (Tan et al.)"))))
PersonaSection = stage_section(PersonaConfig, "persona")
GateSection = stage_section(GateConfig, "gate")
ReportSection = stage_section(ReportConfig, "report")
_TrainBase = stage_section(TrainConfig, "train", when=(Literal["always", "recommended"], Field("always", description=(
    "always: train even if assess recommends prompting (to audit what fine-tuning would do); recommended: skip "
    "training (and the stages that need it) unless assess recommends fine-tuning"))),
    variants=(list[VariantSection], Field(default_factory=_default_variants, description=(
        "the fine-tunes to make and audit; default: plain and inoculated (preset vulnerable-code)"))))


class TrainSection(_TrainBase):
    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[VariantSection]) -> list[VariantSection]:
        names = [v.name for v in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        return value


def _active_assess(section) -> bool:
    return section.enabled if section.enabled is not None else section.task is not None


AssessSection.active = property(_active_assess)


class ExperimentConfig(StrictNumbers):
    """A whole tunewise experiment. Every section may be omitted; its defaults are CPU-sized."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="experiment name; the run folder is runs/<name> unless run_dir is given")
    description: str = Field("", description="free text shown in the report")
    model: str = Field(DEFAULT_MODEL, description="base model reference (packaged:, hf:, openai:...@url)")
    backend: Literal["hf", "vllm", "openai"] = Field("hf", description=(
        "sampling engine for assess and audit (hf in process; vllm on GPUs; openai for a running server)"))
    seed: int = Field(0, description="seed for data order, sampling and splits (each section may set its own)")
    run_dir: str | None = Field(None, description="run folder (default runs/<name>, relative to the working directory)")
    task: TaskSection = Field(default_factory=TaskSection)
    assess: AssessSection = Field(default_factory=AssessSection)
    train: TrainSection = Field(default_factory=TrainSection)
    audit: AuditSection = Field(default_factory=AuditSection)
    persona: PersonaSection = Field(default_factory=PersonaSection)
    gate: GateSection = Field(default_factory=GateSection)
    report: ReportSection = Field(default_factory=ReportSection)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # The name becomes a folder under runs/: no separators, no '..', nothing hidden.
        if not value or value.startswith(".") or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("experiment names are letters, digits, '-', '_' or '.', not starting with '.' "
                             "(the run folder is runs/<name>; set run_dir for another place)")
        return value

    @field_validator("model")
    @classmethod
    def _model_ref(cls, value: str) -> str:
        from tunewise.errors import ModelRefError
        from tunewise.models.refs import parse_model_ref

        try:
            ref = parse_model_ref(value)
        except ModelRefError as exc:
            raise ValueError(str(exc)) from None
        if ref.lora and not (Path(ref.lora).expanduser() / "adapter_config.json").is_file():
            raise ValueError(f"+lora:{ref.lora}: no adapter there (no adapter_config.json); give the folder "
                             "`tunewise train` wrote (<run_dir>/adapters/<variant>/adapter)")
        return str(ref)

    @model_validator(mode="after")
    def _data_source(self) -> "ExperimentConfig":
        if not self.task.dataset and not self.task.data:
            raise ValueError("task: give `dataset` (a built-in narrow dataset) or `data` (a chat JSONL path)")
        return self

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name


# ----------------------------------------------------------------------------------- loading

def parse_experiment(text: str, source: str = "<string>", base_dir: Path | None = None) -> ExperimentConfig:
    """Parse and validate experiment YAML text; ``source`` names it in error messages."""
    document = parse_yaml(text, source)
    if not isinstance(document.data, dict):
        raise ConfigError(f"{source}:1: an experiment file is a YAML mapping (name: ..., model: ..., train: ...)")
    if base_dir is not None:
        _resolve_paths(document.data, base_dir)
    try:
        config = ExperimentConfig.model_validate(document.data)
    except ValidationError as exc:
        raise_config_error(exc, source, ExperimentConfig, lines=document.lines)
    _check_stage_configs(config, source, document.lines)
    return config


def _check_stage_configs(config: ExperimentConfig, source: str, lines: dict[tuple, int]) -> None:
    """Build every enabled stage's capability config now (with the experiment's values filled in),
    so an error that needs both — a dataset the gate cannot read, say — fails at load time too."""
    from tunewise.pipeline import stage_configs

    for name, build in stage_configs.BUILDERS.items():
        section = getattr(config, name)
        if name == "assess" and not section.active:
            continue
        if name == "assess" and section.task is None:
            raise ConfigError(f"{source}:{lines.get(('assess',), 1)}: assess.task: required when assess is enabled "
                              "(a built-in task: " + ", ".join(_assess_tasks()) + ", or a JSONL file with gold "
                              "answers); or set assess.enabled: false")
        if not getattr(section, "enabled", True) and name != "assess":
            continue
        try:
            build(config)
        except ValidationError as exc:
            raise_config_error(exc, source, CAPABILITIES[name], lines=lines, prefix=(name,))


def _assess_tasks() -> list[str]:
    from tunewise.registry import TASKS

    return TASKS.names()


def _relative_to(base_dir: Path, value):
    """Paths in an experiment file are relative to that file, not to the working directory."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    return str((base_dir / value).resolve())


def _looks_like_file(value) -> bool:
    return isinstance(value, str) and Path(value).suffix in (".yaml", ".yml", ".json", ".jsonl", ".txt")


def _resolve_paths(data: dict, base_dir: Path) -> None:
    """Make the file paths an experiment names relative to the file (before validation, so the
    capabilities' own existence checks look in the right place). Names of built-ins stay names."""
    sections = {name: data.get(name) for name in ("task", "train", "audit", "persona", "assess", "gate", "report")}
    sections = {name: value for name, value in sections.items() if isinstance(value, dict)}
    if "task" in sections:
        sections["task"]["data"] = _relative_to(base_dir, sections["task"].get("data"))
    for variant in (sections.get("train") or {}).get("variants") or []:
        if isinstance(variant, dict) and variant.get("dataset") not in DATASETS:
            variant["dataset"] = _relative_to(base_dir, variant.get("dataset"))
    persona = sections.get("persona") or {}
    if persona.get("vectors") is not None:
        persona["vectors"] = _relative_to(base_dir, persona["vectors"])
    if isinstance(persona.get("traits"), list):
        persona["traits"] = [_relative_to(base_dir, t) if _looks_like_file(t) else t for t in persona["traits"]]
    for section, key in (("persona", "knowledge_probes"), ("audit", "probes"), ("assess", "task"),
                         ("audit", "export_csv"), ("report", "out")):
        value = (sections.get(section) or {}).get(key)
        if _looks_like_file(value) or (key in ("export_csv", "out") and value):
            sections[section][key] = _relative_to(base_dir, value)
    for key in ("ood_sets",):
        values = (sections.get("gate") or {}).get(key)
        if isinstance(values, list):
            sections["gate"][key] = [_relative_to(base_dir, v) if _looks_like_file(v) else v for v in values]


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file; errors name file:line: field."""
    path = Path(path)
    text = read_text_file(path, "experiment file (see examples/*.yaml)")
    return parse_experiment(text, str(path), base_dir=path.parent)


def describe_fields() -> list[str]:
    """Every experiment key with its default and description, for ``tunewise run --help-config``.
    Stage sections list their capability's fields (the same names as its command's flags); the
    fields the experiment fills in are marked."""
    lines = []
    for name, field in ExperimentConfig.model_fields.items():
        section = field.annotation
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            lines += [line for line in describe_model(ExperimentConfig) if line.startswith(f"{name}:")]
            continue
        capability = CAPABILITIES.get(name)
        title = f"tunewise {name} / {capability.__name__}" if capability else (section.__doc__ or "").strip()
        lines.append(f"{name}:  # {title.splitlines()[0] if title else ''}")
        for line in describe_model(section, "  "):
            key = line.strip().split(":", 1)[0]
            if key in OWNED.get(name, {}):
                continue  # listed below as filled in by the experiment
            lines.append(line)
        for key, by in OWNED.get(name, {}).items():
            lines.append(f"  # {key}: filled in from {by}")
    return lines
