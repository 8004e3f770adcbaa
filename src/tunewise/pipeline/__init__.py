"""Run a whole experiment (assess -> train -> audit -> persona -> gate -> report) in one run folder.

Python API::

    from tunewise.pipeline import load_experiment, run_experiment, builtin_experiment

    config = load_experiment("examples/quick.yaml")     # or builtin_experiment("demo")
    result = run_experiment(config)                      # result.report_path, result.outcomes

CLI: ``tunewise run EXPERIMENT.yaml [--from STAGE]``, ``tunewise demo [--quick]``. Names load on
first use, so registering the commands does not import every capability.
"""

from __future__ import annotations

from importlib import resources

from tunewise.lazy import lazy_exports

BUILTIN_EXPERIMENTS = ("demo", "quick")
_names, __getattr__, __dir__ = lazy_exports("tunewise.pipeline", {
    ".config": ("ExperimentConfig", "load_experiment", "parse_experiment"),
    ".run": ("STAGES", "Pipeline", "PipelineResult", "StageOutcome", "run_experiment"),
}, globals())


def builtin_experiment(name: str):
    """A packaged experiment (``demo``: 0.5B, ~20 min on 2 CPU cores; ``quick``: SmolLM2-135M)."""
    from tunewise.errors import ConfigError
    from tunewise.pipeline.config import parse_experiment

    if name not in BUILTIN_EXPERIMENTS:
        raise ConfigError(f"unknown built-in experiment {name!r}; known: {', '.join(BUILTIN_EXPERIMENTS)}")
    text = resources.files("tunewise.pipeline").joinpath("experiments", f"{name}.yaml").read_text(encoding="utf-8")
    return parse_experiment(text, source=f"tunewise/pipeline/experiments/{name}.yaml")


__all__ = ["ExperimentConfig", "load_experiment", "parse_experiment", "builtin_experiment", "run_experiment",
           "Pipeline", "PipelineResult", "StageOutcome", "STAGES", "BUILTIN_EXPERIMENTS"]
