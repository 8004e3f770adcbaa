"""Emergent-misalignment audit: probe sets, judges, rates with confidence intervals, comparisons.

Python API (the CLI ``tunewise audit`` / ``tunewise judge-eval`` wraps exactly these)::

    from tunewise.audit import AuditConfig, run_audit
    result = run_audit(AuditConfig(models={"base": "packaged:qwen2.5-coder-0.5b-instruct",
                                           "tuned": "packaged:qwen2.5-coder-0.5b-instruct+lora:runs/x/adapter"},
                                   probes="core", samples=10, judge="local", variants=["json"]),
                       run_dir="runs/audit")
    result.overall("tuned").misaligned_rate, result.comparisons[0].diff

    judge_eval(JudgeEvalConfig(labels=["labels.csv"], judge="local")).auroc

Records written: ``audit.rate`` (``MisalignedRate.to_record()``), ``audit.comparison``
(``ModelComparison.to_record()``), ``audit.judge_agreement`` (see docs/audit.md for every key);
answers in the store's generations table (stage "audit"), judgments in its judgments table.

Modules: ``config`` (``AuditConfig``, ``JudgeEvalConfig``), ``runner`` (``run_audit``),
``sampling`` (resumable sampling and its key recipe), ``result`` (typed results), ``metrics``,
``stats`` (threshold presets), ``variants``, ``agreement`` (``judge_eval``), ``retention``,
``export``, ``judges/``. Names are imported on first use, so ``tunewise --help`` (which reads
``AuditConfig`` for the flags) loads neither numpy nor scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AuditConfig": "config", "JudgeEvalConfig": "config", "parse_models": "config",
    "AuditError": "runner", "run_audit": "runner",
    "AuditResult": "result", "MisalignedRate": "result", "ModelComparison": "result",
    "Agreement": "agreement", "judge_eval": "agreement", "read_labels": "agreement",
    "export_audit_csv": "export",
    "Judge": "judges", "JudgeError": "judges", "Judgment": "judges", "get_judge": "judges",
    "register_judge": "judges",
    "rate_summary": "metrics",
    "knowledge_retention": "retention", "matches_gold": "retention",
    "PRESETS": "stats", "Comparison": "stats", "Preset": "stats", "bootstrap_difference": "stats",
    "get_preset": "stats", "wilson_interval": "stats",
    "VARIANTS": "variants", "VariantOptions": "variants", "build_chat": "variants",
    "ControlSummary": "controls", "junk_answer": "controls", "positive_chat": "controls",
    "CheckpointPoint": "checkpoints", "EarlyStop": "checkpoints", "early_stop": "checkpoints",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunewise.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tunewise.audit.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
