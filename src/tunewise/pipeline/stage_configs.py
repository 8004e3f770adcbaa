"""From an experiment to each stage's capability config: the only wiring the pipeline does.

Each builder starts from the capability's own defaults, fills in what the experiment owns (the
base model, the seed, the task's data, the trained variants), then applies the section's own
settings. ``tunewise <capability>`` with the same values builds the same config, so the two
measure the same thing (tests/pipeline/test_same_numbers.py).
"""

from __future__ import annotations

from pathlib import Path

from tunewise.pipeline.sections import capability_values


def _gate_source(config) -> str:
    """The gate's in-domain source: a built-in dataset as ``task:<name>``, or the user's file."""
    return config.task.data if config.task.data else f"task:{config.task.dataset}"


def assess_config(config, run_dir: Path | None = None):
    from tunewise.assess.config import AssessConfig

    values = {"models": [config.model], "seed": config.seed,
              **({"backend": config.backend} if config.backend != "hf" else {}),
              **capability_values(config.assess, "assess")}
    return AssessConfig(**values)  # its adapters go to <run_dir>/adapters/assess by default


def train_config(config, variant=None):
    """The TrainConfig of one variant (the first one when ``variant`` is None: load-time check)."""
    from tunewise.train.config import InoculationConfig, TrainConfig

    variant = variant or (config.train.variants[0] if config.train.variants else None)
    values = {"model": config.model, "seed": config.seed, "data": config.task.source,
              "max_examples": config.task.n_examples, **capability_values(config.train, "train")}
    if variant is not None:
        values["variant"] = variant.name
        values["data"] = variant.dataset or config.task.source
        if variant.inoculation:
            values["inoculation"] = InoculationConfig(prompt=variant.inoculation, placement=variant.placement)
    return TrainConfig(**values)


def audit_config(config, trained: dict[str, Path] | None = None):
    """Base model first (the baseline every variant is compared with), then every trained variant;
    an inoculated variant is also audited with its prompt present when the section asks."""
    from tunewise.audit.config import AuditConfig

    models = {"base": config.model}
    for name, adapter in (trained or {}).items():
        models[name] = f"{config.model}+lora:{adapter}"
    values = {"models": models, "seed": config.seed,
              **({"backend": config.backend} if config.backend != "hf" else {}),
              **capability_values(config.audit, "audit")}
    inoculated = [v for v in config.train.variants if v.inoculation and v.name in models]
    if config.audit.with_inoculation_prompt and inoculated and not values.get("inoculation_prompt"):
        values["inoculation_prompt"] = inoculated[0].inoculation
    return AuditConfig(**values)


def persona_config(config, adapters: dict[str, Path] | None = None):
    from tunewise.persona.config import PersonaConfig

    values = {"model": config.model, "seed": config.seed, "screen_data": config.task.source,
              "adapters": {name: str(path) for name, path in (adapters or {}).items()},
              **capability_values(config.persona, "persona")}
    return PersonaConfig(**values)


def gate_config(config):
    from tunewise.gate.config import GateConfig

    return GateConfig(**{"data": _gate_source(config), "n": config.task.n_examples, "seed": config.seed,
                         **capability_values(config.gate, "gate")})


def report_config(config, run_dir: Path | None = None):
    from tunewise.report.config import ReportConfig

    return ReportConfig(**capability_values(config.report, "report"))


BUILDERS = {"assess": assess_config, "train": train_config, "audit": audit_config, "persona": persona_config,
            "gate": gate_config, "report": report_config}
