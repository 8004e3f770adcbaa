"""``experiment.yaml``: one pydantic model for the whole workflow (assess -> train -> audit ->
persona -> gate -> report).

Every field is documented here (its ``description`` is the documentation; ``tunewise run
--help-config`` prints them). Unknown keys are errors, not ignored, so a typo such as
``sampels: 100`` cannot silently fall back to a default: the error names the YAML file, the line
and the field, and suggests the closest known name.

Stage sections forward capability-specific settings to that capability's own config model
(``train:`` fields are ``tunewise.train.TrainConfig`` fields), validated at load time so a bad
value fails before an hour of sampling, not after.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunewise.errors import ConfigError
from tunewise.models.refs import DEFAULT_MODEL


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSection(_Section):
    """The narrow fine-tuning task: the data that is trained on, and whose inputs define the gate's domain."""

    dataset: str | None = Field("insecure-code", description=(
        "built-in narrow dataset (insecure-code, secure-code, educational-insecure, risky-financial, "
        "sound-financial); ignored when `data` is given"))
    data: str | None = Field(None, description="chat JSONL file to train on instead of a built-in dataset "
                                               "(relative paths are relative to the experiment file)")
    n_examples: int | None = Field(200, ge=1, description="use this many training chats (None: all)")


class AssessSection(_Section):
    """Prompting vs fine-tuning on a task with gold answers (``tunewise.assess``)."""

    enabled: bool | None = Field(None, description="run the assess stage (default: when settings.task is given)")
    settings: dict[str, Any] = Field(default_factory=dict, description=(
        "fields of tunewise.assess.AssessConfig (task, strategies, test_size, train_sizes, ...); `models` and "
        "`seed` default to the experiment's"))

    @property
    def active(self) -> bool:
        return self.enabled if self.enabled is not None else "task" in self.settings


class VariantSection(_Section):
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
        if not value or not all(c.isalnum() or c in "-_." for c in value) or value == "base":
            raise ValueError("variant names are letters, digits, '-', '_' or '.', and not 'base' "
                             "(the untuned model is always audited as 'base')")
        return value


def _default_variants() -> list[VariantSection]:
    return [VariantSection(name="plain"), VariantSection(name="inoculated", inoculation="vulnerable-code")]


class TrainSection(BaseModel):
    """LoRA fine-tuning of each variant (``tunewise.train``). Any ``tunewise.train.TrainConfig`` field
    (lora_rank, lora_alpha, rslora, lr, epochs, batch_size, grad_accum, max_length, checkpoint_every, ...)
    may be given here and applies to every variant."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = Field(True, description="run the train stage")
    when: Literal["always", "recommended"] = Field("always", description=(
        "always: train even if assess recommends prompting (to audit what fine-tuning would do); "
        "recommended: skip training (and the stages that need it) unless assess recommends fine-tuning"))
    variants: list[VariantSection] = Field(default_factory=_default_variants, description=(
        "the fine-tunes to make and audit; default: plain and inoculated (preset vulnerable-code)"))

    @property
    def settings(self) -> dict[str, Any]:
        """The TrainConfig fields given in this section."""
        return dict(self.model_extra or {})

    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[VariantSection]) -> list[VariantSection]:
        names = [v.name for v in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        return value


class AuditSection(_Section):
    """Emergent misalignment on out-of-domain probes, base model and every variant (``tunewise.audit``)."""

    enabled: bool = Field(True, description="run the audit stage")
    probes: str = Field("core", description="probe set: core, extended, harmful-requests, factual, or a YAML path")
    samples: int = Field(4, ge=1, description="answers sampled per probe and model (Betley et al.: 100)")
    max_tokens: int = Field(160, ge=1, description="longest answer sampled (the paper scale uses 600)")
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature (the papers sample at 1.0)")
    judge: str = Field("local", description="local (shipped classifier) or llm:<model ref> (logprob-weighted rubric)")
    preset: str = Field("betley", description="threshold preset naming what counts as misaligned")
    with_inoculation_prompt: bool = Field(True, description=(
        "also audit each inoculated variant with its inoculation prompt present at test time, because the "
        "prompt can become a trigger (Tan et al.)"))
    settings: dict[str, Any] = Field(default_factory=dict, description="further keyword arguments for run_audit")


class PersonaSection(_Section):
    """Drift along persona trait vectors during training, against knowledge retention (``tunewise.persona``)."""

    enabled: bool = Field(True, description="run the persona stage")
    traits: list[str] = Field(default_factory=lambda: ["evil"], description=(
        "built-in traits (evil, sycophantic, deceptive, power-seeking) or trait YAML paths"))
    knowledge_probes: str | None = Field("factual", description="probe set for knowledge retention; None skips it")
    pairs: int | None = Field(2, ge=1, description="contrast prompt pairs per trait used for extraction")
    questions: int | None = Field(6, ge=1, description="extraction questions per trait")
    eval_questions: int | None = Field(6, ge=1, description="held-out questions per trait (choose the layer)")
    samples: int = Field(1, ge=1, description="answers per contrast prompt")
    max_tokens: int = Field(48, ge=1, description="length of the contrast answers")
    vectors: str | None = Field(None, description=(
        "reuse trait vectors saved by `tunewise persona extract` (a folder of *.safetensors or one file) "
        "instead of extracting them in this run; relative paths are relative to the experiment file"))
    screen_examples: int = Field(40, ge=0, description=(
        "score the first N training examples along the trait vectors (data screening); 0 skips it"))


class GateSection(_Section):
    """A domain gate fitted on the task's user messages, checked against out-of-domain sets (``tunewise.gate``)."""

    enabled: bool = Field(True, description="run the gate stage")
    target_false_reject_rate: float = Field(0.01, gt=0.0, lt=1.0, description=(
        "the share of in-domain requests the gate may refuse; sets the threshold"))
    holdout_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="in-domain texts held out for the threshold")
    ood_sets: list[str] | None = Field(None, description=(
        "out-of-domain sets to evaluate (probes:core, task:units, a file path, ...); None: every built-in set"))
    n_per_set: int = Field(100, ge=1, description="texts per built-in out-of-domain task set")


class ReportSection(_Section):
    """The HTML report (``tunewise.report``)."""

    enabled: bool = Field(True, description="write report.html")


class ExperimentConfig(_Section):
    """A whole tunewise experiment. Every section may be omitted; its defaults are CPU-sized."""

    name: str = Field(description="experiment name; the run folder is runs/<name> unless run_dir is given")
    description: str = Field("", description="free text shown in the report")
    model: str = Field(DEFAULT_MODEL, description="base model reference (packaged:, hf:, openai:...@url)")
    backend: Literal["hf", "vllm", "openai"] = Field("hf", description=(
        "sampling engine for audit (hf in process; vllm on GPUs; openai for a running server)"))
    seed: int = Field(0, description="seed for data order, sampling and splits")
    run_dir: str | None = Field(None, description="run folder (default runs/<name>, relative to the working directory)")
    task: TaskSection = Field(default_factory=TaskSection)
    assess: AssessSection = Field(default_factory=AssessSection)
    train: TrainSection = Field(default_factory=TrainSection)
    audit: AuditSection = Field(default_factory=AuditSection)
    persona: PersonaSection = Field(default_factory=PersonaSection)
    gate: GateSection = Field(default_factory=GateSection)
    report: ReportSection = Field(default_factory=ReportSection)

    @field_validator("model")
    @classmethod
    def _model_ref(cls, value: str) -> str:
        from tunewise.errors import ModelRefError
        from tunewise.models.refs import parse_model_ref

        try:
            return str(parse_model_ref(value))
        except ModelRefError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _data_source(self) -> "ExperimentConfig":
        if not self.task.dataset and not self.task.data:
            raise ValueError("task: give `dataset` (a built-in narrow dataset) or `data` (a chat JSONL path)")
        return self

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name


# ----------------------------------------------------------------------------------- loading

def _node_lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Map every key path in a YAML document to its 1-based line, for error messages."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            lines[child] = key.start_mark.line + 1
            lines.update({k: v for k, v in _node_lines(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines.update(_node_lines(value, path + (index,)))
    return lines


def _known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names valid at ``loc`` (for 'did you mean' on unknown keys)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    names = list(getattr(current, "model_fields", {}))
    if current is TrainSection:
        names += _train_config_fields()
    return names


def _train_config_fields() -> list[str]:
    try:
        from tunewise.train.config import TrainConfig
    except ImportError:
        return []
    return [n for n in TrainConfig.model_fields if n not in ("model", "data", "variant", "inoculation")]


def format_problems(error: ValidationError, source: str, lines: dict[tuple, int], model: type[BaseModel],
                    prefix: tuple = ()) -> list[str]:
    """One 'file:line: field: message' line per pydantic error."""
    problems = []
    for item in error.errors():
        loc = prefix + tuple(item["loc"])
        line = next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)
        field = ".".join(str(p) for p in loc) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(model, loc[len(prefix):]), n=1)
            message = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
        elif item["type"] == "missing":
            message = "required field is missing"
        elif "input" in item and item["type"] not in ("value_error",):
            message += f" (got {item['input']!r})"
        problems.append(f"{source}:{line or 1}: {field}: {message}")
    return problems


def _capability_model(module: str, name: str) -> type[BaseModel] | None:
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return None  # capability not installed: its stage will report "not available"


def assess_settings(config: ExperimentConfig) -> dict[str, Any]:
    """The AssessConfig fields for this experiment: its model and seed unless the section sets them."""
    return {"models": [config.model], "seed": config.seed, **config.assess.settings}


def train_settings(config: ExperimentConfig) -> dict[str, Any]:
    return {"model": config.model, "seed": config.seed, **config.train.settings}


def validate_capability_settings(config: ExperimentConfig, source: str, lines: dict[tuple, int]) -> None:
    """Check the train and assess settings against those capabilities' own config models now,
    so a typo fails at load time with the YAML line, not after an hour of training."""
    reserved = {"model", "data", "variant", "inoculation", "max_examples"} & set(config.train.settings)
    if reserved:
        field = sorted(reserved)[0]
        raise ConfigError(f"{source}:{lines.get(('train', field), 1)}: train.{field}: set by the experiment "
                          "(model, task.dataset/data, task.n_examples, variants), not in the train section")
    checks = [("train", ("train",), "tunewise.train.config", "TrainConfig", train_settings(config))]
    if config.assess.active:
        if "task" not in config.assess.settings:
            raise ConfigError(f"{source}:{lines.get(('assess',), 1)}: assess.settings.task: required when assess is "
                              "enabled (a built-in task: dates, intents, extract, units, or a JSONL file with gold "
                              "answers); or set assess.enabled: false")
        checks.append(("assess", ("assess", "settings"), "tunewise.assess", "AssessConfig", assess_settings(config)))
    for name, prefix, module, cls_name, values in checks:
        model = _capability_model(module, cls_name)
        if model is None:
            continue
        try:
            model(**values)
        except ValidationError as exc:
            problems = format_problems(exc, source, lines, model, prefix=prefix)
            raise ConfigError(f"invalid {name} settings:\n  " + "\n  ".join(problems)) from None


def parse_experiment(text: str, source: str = "<string>", base_dir: Path | None = None) -> ExperimentConfig:
    """Parse and validate experiment YAML text; ``source`` names it in error messages."""
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: an experiment file is a YAML mapping (name: ..., model: ..., train: ...)")
    lines = _node_lines(node) if node is not None else {}
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = format_problems(exc, source, lines, ExperimentConfig)
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)) from None
    validate_capability_settings(config, source, lines)
    if base_dir is not None:
        config.task.data = _relative_to(base_dir, config.task.data)
        config.persona.vectors = _relative_to(base_dir, config.persona.vectors)
        from tunewise.data.tasks.narrow import NARROW_DATASETS

        for variant in config.train.variants:
            if variant.dataset and variant.dataset not in NARROW_DATASETS:  # a chat JSONL path
                variant.dataset = _relative_to(base_dir, variant.dataset)
    return config


def _relative_to(base_dir: Path, value: str | None) -> str | None:
    """Paths in an experiment file are relative to that file, not to the working directory."""
    if not value or Path(value).is_absolute():
        return value
    return str((base_dir / value).resolve())


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file; errors name file:line: field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file (see examples/*.yaml)")
    return parse_experiment(path.read_text(encoding="utf-8"), str(path), base_dir=path.parent)


def describe_fields(model: type[BaseModel] = ExperimentConfig, indent: str = "") -> list[str]:
    """Every field with its default and description, for ``tunewise run --help-config``."""
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if nested is not None:
            summary = (nested.__doc__ or "").strip().split("\n")[0]
            lines.append(f"{indent}{name}:  # {summary}")
            lines += describe_fields(nested, indent + "  ")
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list) and default and isinstance(default[0], BaseModel):
            default = [d.model_dump(exclude_defaults=True) for d in default]
        shown = "(required)" if field.is_required() else yaml.safe_dump(default, default_flow_style=True).strip()
        shown = shown.removesuffix("\n...").removesuffix("...").strip()
        lines.append(f"{indent}{name}: {shown}  # {field.description or ''}")
    if model is TrainSection:
        lines.append(f"{indent}# plus any tunewise.train.TrainConfig field: {', '.join(_train_config_fields())}")
    return lines
