"""Emergent-misalignment audit: probe sets, judges, rates with confidence intervals, comparisons.

Python API (the CLI ``tunewise audit`` / ``tunewise judge-eval`` wraps exactly these)::

    from tunewise.audit import run_audit, knowledge_retention, judge_eval
    from tunewise.runs.store import RunStore
    result = run_audit({"base": "packaged:qwen2.5-coder-0.5b-instruct",
                        "tuned": "packaged:qwen2.5-coder-0.5b-instruct+lora:runs/x/adapter"},
                       RunStore("runs/audit"), probes="core", samples=10, judge="local",
                       variants=["json"], preset="betley")
    result.overall("tuned")["misaligned_rate"], result.comparisons

Records written: ``audit.rate``, ``audit.comparison`` (see docs/audit.md for every key); answers
in the store's generations table (stage "audit"), judgments in its judgments table.
"""

from tunewise.audit.agreement import Agreement, judge_eval, read_labels
from tunewise.audit.export import export_audit_csv
from tunewise.audit.judges import Judge, JudgeError, Judgment, get_judge, register_judge
from tunewise.audit.metrics import rate_summary
from tunewise.audit.retention import knowledge_retention, matches_gold
from tunewise.audit.runner import AuditError, AuditResult, run_audit
from tunewise.audit.stats import PRESETS, Comparison, Preset, bootstrap_difference, get_preset, wilson_interval
from tunewise.audit.variants import VARIANTS, VariantOptions, build_chat

__all__ = ["Agreement", "AuditError", "AuditResult", "Comparison", "Judge", "JudgeError", "Judgment", "PRESETS",
           "Preset", "VARIANTS", "VariantOptions", "bootstrap_difference", "build_chat", "export_audit_csv",
           "get_judge", "get_preset", "judge_eval", "knowledge_retention", "matches_gold", "rate_summary",
           "read_labels", "register_judge", "run_audit", "wilson_interval"]
