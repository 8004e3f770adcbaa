"""Run a whole experiment (assess -> train -> audit -> persona -> gate -> report) in one run folder.

Python API::

    from tunewise.pipeline import load_experiment, run_experiment, builtin_experiment

    config = load_experiment("examples/quick.yaml")     # or builtin_experiment("demo")
    result = run_experiment(config)                      # result.report_path, result.outcomes

CLI: ``tunewise run EXPERIMENT.yaml [--from STAGE]``, ``tunewise demo [--quick]``.
"""

from __future__ import annotations

from importlib import resources

from tunewise.pipeline.config import ExperimentConfig, load_experiment, parse_experiment
from tunewise.pipeline.run import STAGES, Pipeline, PipelineResult, StageOutcome, run_experiment

BUILTIN_EXPERIMENTS = ("demo", "quick")


def builtin_experiment(name: str) -> ExperimentConfig:
    """A packaged experiment (``demo``: 0.5B, ~20 min on 2 CPU cores; ``quick``: SmolLM2-135M)."""
    from tunewise.errors import ConfigError

    if name not in BUILTIN_EXPERIMENTS:
        raise ConfigError(f"unknown built-in experiment {name!r}; known: {', '.join(BUILTIN_EXPERIMENTS)}")
    text = resources.files("tunewise.pipeline").joinpath("experiments", f"{name}.yaml").read_text(encoding="utf-8")
    return parse_experiment(text, source=f"tunewise/pipeline/experiments/{name}.yaml")


__all__ = ["ExperimentConfig", "load_experiment", "parse_experiment", "builtin_experiment", "run_experiment",
           "Pipeline", "PipelineResult", "StageOutcome", "STAGES", "BUILTIN_EXPERIMENTS"]
