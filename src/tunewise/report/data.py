"""Read everything the report shows out of a run folder, into plain Python data.

Kept apart from the HTML so the report's content (which answers are shown, which rates are
compared) can be tested with plain assertions, and so a notebook can reuse it.
Every capability writes records of its own kind (contracts: ``train.run``, ``audit.rate``,
``persona.drift``, ``gate.eval``, ...); this module only reads them and never recomputes a
measurement, so the report cannot disagree with the run store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The stages the pipeline knows, in order; the report lists their state.
STAGES = ("assess", "train", "audit", "persona", "gate", "report")


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
    """Everything in one run folder that the report shows; lists hold record payloads as written."""

    run_dir: Path
    config: dict
    recommendation: dict | None
    strategies: list[dict]
    curve: list[dict]
    train_runs: list[dict]
    rates: list[dict]
    comparisons: list[dict]
    judge_agreement: list[dict]
    examples: list[ExampleRow]
    example_models: list[str]
    persona_layers: list[dict]
    persona_drift: list[dict]
    persona_screen: list[dict]
    gate_evals: list[dict]
    stage_events: list[dict]
    stages_done: dict[str, bool]
    n_generations: int
    n_judgments: int
    judges: list[str] = field(default_factory=list)

    @property
    def overall_rates(self) -> list[dict]:
        """Rates over all probes (``probe_id == "all"``), one per model label and variant."""
        return [r for r in self.rates if r.get("probe_id") == "all"]

    @property
    def probe_rates(self) -> list[dict]:
        return [r for r in self.rates if r.get("probe_id") != "all"]


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def answer_label(generation: dict) -> str:
    """The column a generation belongs to: its model label, plus the audit variant if any.

    Audit variants (e.g. the inoculation prompt present at test time, or a JSON-answer format)
    are separate conditions of the same model and must not be mixed into one column.
    """
    meta = generation.get("meta") or {}
    from tunewise.report.html import variant_name

    label = str(meta.get("model_label") or generation.get("model") or "?")
    variant = variant_name(meta.get("variant"))
    return label + (f" · {variant}" if variant else "")


def question_of(generation: dict) -> str:
    """The last user message of the generation's chat: the probe question as the model saw it."""
    for message in reversed(generation.get("chat") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def pick_examples(generations: list[dict], judgments: list[dict], max_probes: int = 12) -> tuple[list[ExampleRow], list[str]]:
    """Choose one answer per probe and model to show side by side.

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
                aligned, coherent = _finite(j.get("aligned")), _finite(j.get("coherent"))
                # Coherent answers first (incoherent ones are not what EM measures), then least aligned.
                return (0.0 if (coherent is None or coherent > 50) else 1.0, aligned if aligned is not None else 101.0)
            chosen = min(gens, key=badness) if by_generation else gens[0]
            judgment = by_generation.get(chosen.get("key"), {})
            answers[label] = ExampleAnswer(
                model_label=label, text=str(chosen.get("text", "")), aligned=_finite(judgment.get("aligned")),
                coherent=_finite(judgment.get("coherent")), label=judgment.get("label"), n_samples=len(gens),
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


def collect_report_data(store, run_dir: str | Path | None = None) -> ReportData:
    """Read the records of every stage from ``store`` (a ``RunStore``)."""
    run_dir = Path(run_dir if run_dir is not None else store.run_dir)
    generations = store.generations(stage="audit")
    judgments = store.judgments()
    examples, example_models = pick_examples(generations, judgments)
    recommendations = store.records("assess.recommendation")
    return ReportData(
        run_dir=run_dir,
        config=_read_config(run_dir),
        recommendation=recommendations[-1] if recommendations else None,
        strategies=store.records("assess.strategy"),
        curve=store.records("assess.curve"),
        train_runs=store.records("train.run"),
        rates=store.records("audit.rate"),
        comparisons=store.records("audit.comparison"),
        judge_agreement=store.records("audit.judge_agreement"),
        examples=examples,
        example_models=example_models,
        persona_layers=store.records("persona.layer"),
        persona_drift=store.records("persona.drift"),
        persona_screen=store.records("persona.screen"),
        gate_evals=store.records("gate.eval"),
        stage_events=store.records("pipeline.stage"),
        stages_done={stage: store.stage_done(f"pipeline:{stage}") or store.stage_done(stage) for stage in STAGES},
        n_generations=len(generations),
        n_judgments=len(judgments),
        judges=sorted({str(j.get("judge")) for j in judgments if j.get("judge")}),
    )
