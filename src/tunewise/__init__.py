"""tunewise: should you fine-tune, and what did fine-tuning do to the model?

One import per capability, nothing private::

    from tunewise import AuditConfig, run_audit
    result = run_audit(AuditConfig(models=["packaged:qwen2.5-coder-0.5b-instruct"], samples=4), run_dir="runs/a")

Every capability has one config model, one ``run_<capability>(config, run_dir=...)`` and one
typed result: assess, train, audit, persona, gate, serve, report; ``run_experiment`` chains them.
Names load on first use, so ``import tunewise`` (and ``tunewise --help``) does not import torch.
"""

from __future__ import annotations

from tunewise.lazy import lazy_exports

__version__ = "0.1.0"

__all__, __getattr__, __dir__ = lazy_exports("tunewise", {
    "tunewise.assess": ("AssessConfig", "AssessResult", "run_assess"),
    "tunewise.train": ("TrainConfig", "TrainResult", "run_train"),
    "tunewise.audit": ("AuditConfig", "AuditResult", "run_audit"),
    "tunewise.persona": ("PersonaConfig", "PersonaResult", "run_persona"),
    "tunewise.gate": ("GateConfig", "GateResult", "run_gate", "ServeConfig", "ServeResult", "run_serve"),
    "tunewise.report": ("ReportConfig", "ReportResult", "run_report"),
    "tunewise.pipeline": ("ExperimentConfig", "PipelineResult", "run_experiment", "load_experiment"),
}, globals())
__all__ = ["__version__", *__all__]
