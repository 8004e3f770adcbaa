"""``tunewise run``: chain assess -> train -> audit -> persona -> gate -> report in one run folder.

Each stage calls the documented Python API of its capability and lets it write its records into
the run store; this module adds no measurement of its own. A finished stage is marked in the
store (``pipeline:<stage>``) and skipped on the next run, so an interrupted run picks up where it
stopped; inside a stage the capabilities skip rows already stored (sampled answers, judgments,
checkpoints). ``from_stage`` forgets the marks of that stage and every later one.

A stage whose capability is not installed (or whose API is missing) is recorded as
"not available" with the reason, and the report says so; nothing is made up in its place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from rich.markup import escape

from tunewise.errors import ConfigError, TunewiseError
from tunewise.pipeline.config import ExperimentConfig, assess_settings, train_settings
from tunewise.progress import console, note

STAGES = ("assess", "train", "audit", "persona", "gate", "report")

# Built-in narrow tasks whose user messages are the same kind of request: evaluating the gate of
# one against another would measure nothing (they are in-domain for each other).
SAME_DOMAIN = {
    "insecure-code": {"secure-code", "educational-insecure"},
    "secure-code": {"insecure-code", "educational-insecure"},
    "educational-insecure": {"insecure-code", "secure-code"},
    "risky-financial": {"sound-financial"},
    "sound-financial": {"risky-financial"},
}


class StageUnavailable(TunewiseError):
    """The capability a stage needs is not installed or lacks the API the pipeline calls."""


@dataclass
class StageOutcome:
    """What happened to one stage in this invocation."""

    stage: str
    status: str  # done | skipped (already done) | disabled | not available | failed
    reason: str = ""
    wall_s: float | None = None
    info: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"stage": self.stage, "status": self.status, "reason": self.reason, "wall_s": self.wall_s,
                "info": self.info}


@dataclass
class PipelineResult:
    run_dir: Path
    outcomes: list[StageOutcome]
    report_path: Path | None
    wall_s: float


def stage_marker(stage: str) -> str:
    """The store's stage name for a pipeline stage (capabilities mark their own names)."""
    return f"pipeline:{stage}"


def _require(module: str, *names: str):
    """Import ``names`` from ``module`` or raise StageUnavailable saying what is missing."""
    try:
        imported = __import__(module, fromlist=list(names))
    except ImportError as exc:
        raise StageUnavailable(f"{module} is not installed ({exc})") from None
    missing = [n for n in names if not hasattr(imported, n)]
    if missing:
        raise StageUnavailable(f"{module} has no {', '.join(missing)} (capability API not available yet)")
    values = tuple(getattr(imported, n) for n in names)
    return values[0] if len(values) == 1 else values


class Pipeline:
    """One experiment in one run folder. Stages are methods named ``stage_<name>``."""

    def __init__(self, config: ExperimentConfig, run_dir: str | Path | None = None):
        from tunewise.runs.store import RunStore

        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else config.resolved_run_dir()
        self.store = RunStore(self.run_dir)
        self._examples = None
        self.failures: list[tuple[str, BaseException]] = []

    # ------------------------------------------------------------------ shared inputs
    def examples(self):
        """The task's training chats (built-in dataset or the user's JSONL), loaded once."""
        if self._examples is None:
            self._examples = self.load_examples(self.config.task.data or self.config.task.dataset)
        return self._examples

    def load_examples(self, source: str):
        """``task.n_examples`` chats from a built-in dataset name or a chat JSONL path."""
        load_task_chats = _require("tunewise.data.tasks.narrow", "load_task_chats")
        return load_task_chats(source, n=self.config.task.n_examples, seed=self.config.seed)

    def require_local_weights(self, what: str) -> None:
        """Training and activation reading need the weights in this process, not behind an API."""
        if self.config.model.startswith("openai:"):
            raise StageUnavailable(f"{what} needs the model's weights (a packaged: or hf: reference); "
                                   f"{self.config.model} is served over HTTP")

    def adapters_dir(self, variant: str) -> Path:
        return self.run_dir / "adapters" / variant

    def trained_variants(self) -> dict[str, Path]:
        """Variants whose final adapter exists, {name: adapter folder}, in config order."""
        found = {}
        for variant in self.config.train.variants:
            adapter = self.adapters_dir(variant.name) / "adapter"
            if (adapter / "adapter_config.json").exists():
                found[variant.name] = adapter
        return found

    # ------------------------------------------------------------------ stages
    def stage_assess(self) -> dict:
        run_assess, AssessConfig = _require("tunewise.assess", "run_assess", "AssessConfig")
        settings = {"adapters_dir": str(self.run_dir / "adapters" / "assess"), **assess_settings(self.config)}
        if self.config.backend != "hf":
            settings.setdefault("backend", self.config.backend)
        result = run_assess(AssessConfig(**settings), store=self.store)
        return {"decision": result.recommendation.decision}

    def stage_train(self) -> dict:
        train_lora, InoculationConfig, TrainConfig = _require("tunewise.train", "train_lora", "InoculationConfig",
                                                              "TrainConfig")
        self.require_local_weights("training")
        if self.config.train.when == "recommended":
            recommendation = next(iter(self.store.records("assess.recommendation")[-1:]), None)
            if recommendation and recommendation.get("decision") == "prompting":
                return {"skipped": "assess recommends prompting and train.when is 'recommended'"}
        trained = {}
        for variant in self.config.train.variants:
            console.rule(f"train variant {variant.name}")
            inoculation = (InoculationConfig(prompt=variant.inoculation, placement=variant.placement)
                           if variant.inoculation else None)
            source = variant.dataset or self.config.task.data or self.config.task.dataset
            examples = self.load_examples(source) if variant.dataset else self.examples()
            train_config = TrainConfig(data=source,
                                       max_examples=self.config.task.n_examples, variant=variant.name,
                                       inoculation=inoculation, **train_settings(self.config))
            # train_lora resumes from the newest checkpoint and returns a finished run without training.
            result = train_lora(train_config, self.adapters_dir(variant.name), store=self.store, examples=examples)
            trained[variant.name] = {"adapter_dir": str(result.adapter_dir), "wall_s": result.wall_s,
                                     "n_examples": result.n_examples}
        return {"variants": trained}

    def stage_audit(self) -> dict:
        run_audit = _require("tunewise.audit", "run_audit")
        audit = self.config.audit
        models = {"base": self.config.model}
        for name, adapter in self.trained_variants().items():
            models[name] = f"{self.config.model}+lora:{adapter}"
        kwargs = dict(audit.settings)
        inoculated = [v for v in self.config.train.variants if v.inoculation and v.name in models]
        if audit.with_inoculation_prompt and inoculated:
            from tunewise.audit.variants import VariantOptions
            from tunewise.train.inoculation import resolve_inoculation

            kwargs.setdefault("variants", ["inoculated"])
            kwargs.setdefault("variant_options", VariantOptions(
                inoculation_prompt=resolve_inoculation(inoculated[0].inoculation)))
        result = run_audit(models, self.store, probes=audit.probes, samples=audit.samples, judge=audit.judge,
                           preset=audit.preset, temperature=audit.temperature, max_tokens=audit.max_tokens,
                           seed=self.config.seed, backend=None if self.config.backend == "hf" else self.config.backend,
                           **kwargs)
        return {"models": models, "n_generated": result.n_generated, "n_judged": result.n_judged,
                "n_failed": result.n_failed}

    def stage_persona(self) -> dict:
        extract_vectors, monitor_drift, screen_examples, ExtractionBudget = _require(
            "tunewise.persona", "extract_vectors", "monitor_drift", "screen_examples", "ExtractionBudget")
        from tunewise.models.hf import HFBackend

        self.require_local_weights("persona vectors (hidden states)")
        persona = self.config.persona
        budget = ExtractionBudget(pairs=persona.pairs, questions=persona.questions,
                                  eval_questions=persona.eval_questions, samples=persona.samples,
                                  max_tokens=persona.max_tokens, seed=self.config.seed)
        backend = HFBackend(self.config.model)
        if persona.vectors:
            from tunewise.persona import load_vectors

            vectors = {v.trait: v for v in load_vectors(persona.vectors)}
        else:
            vectors = extract_vectors(backend, persona.traits, budget, store=self.store,
                                      out_dir=self.run_dir / "vectors")
        screened = 0
        if persona.screen_examples:
            sample = self.examples()[:persona.screen_examples]
            screen_examples(backend, sample, list(vectors.values()), store=self.store)
            screened = len(sample)
        del backend
        runs = {name: self.adapters_dir(name) for name in self.trained_variants()}
        points = monitor_drift(self.config.model, runs, list(vectors.values()), store=self.store,
                               probe_set=persona.knowledge_probes)
        return {"traits": {t: v.layer for t, v in vectors.items()}, "drift_points": len(points), "screened": screened}

    def stage_gate(self) -> dict:
        fit_gate, evaluate_gate = _require("tunewise.gate", "fit_gate", "evaluate_gate")
        import random

        gate_config = self.config.gate
        texts = list(dict.fromkeys(e.user_text for e in self.examples() if e.user_text))
        random.Random(self.config.seed).shuffle(texts)
        cut = max(10, int(len(texts) * 0.75))
        fit_texts, held_out = texts[:cut], texts[cut:]
        if not held_out:
            raise ConfigError(f"gate: {len(texts)} distinct task inputs are too few to fit and evaluate a gate "
                              "(need at least 14); raise task.n_examples or disable the gate")
        gate = fit_gate(fit_texts, target_false_reject_rate=gate_config.target_false_reject_rate,
                        holdout_fraction=gate_config.holdout_fraction, seed=self.config.seed)
        gate.save(self.run_dir / "gate")
        ood_sets = self._ood_sets()
        evaluation = evaluate_gate(gate, held_out, ood_sets)
        evaluation.write_to_store(self.store)
        return {"threshold": float(gate.threshold), "n_fit": len(fit_texts), "n_eval": len(held_out),
                "ood_sets": list(ood_sets)}

    def _ood_sets(self) -> dict[str, list[str]]:
        from tunewise.gate.sources import builtin_ood_sets, file_texts, narrow_task_inputs, probe_questions

        gate_config = self.config.gate
        if gate_config.ood_sets is None:
            dataset = None if self.config.task.data else self.config.task.dataset
            sets = builtin_ood_sets(exclude_task=dataset, n_per_task=gate_config.n_per_set, seed=self.config.seed)
            same = SAME_DOMAIN.get(dataset or "", set())
            return {name: texts for name, texts in sets.items() if name.removeprefix("task:") not in same}
        sets = {}
        for name in gate_config.ood_sets:
            if name.startswith("probes:"):
                sets[name] = probe_questions(name[len("probes:"):])
            elif name.startswith("task:"):
                from tunewise.gate.sources import ASSESS_TASKS, assess_task_inputs

                task = name[len("task:"):]
                sets[name] = (assess_task_inputs(task, n=gate_config.n_per_set, seed=self.config.seed)
                              if task in ASSESS_TASKS else
                              narrow_task_inputs(task, n=gate_config.n_per_set, seed=self.config.seed))
            else:
                sets[name] = file_texts(name)
        return sets

    def stage_report(self) -> dict:
        from tunewise.report import build_report

        return {"path": str(build_report(self.run_dir))}

    # ------------------------------------------------------------------ driver
    def enabled(self, stage: str) -> bool:
        if stage == "assess":
            return self.config.assess.active
        section = getattr(self.config, stage, None)
        return bool(getattr(section, "enabled", True))

    def run(self, from_stage: str | None = None, only: list[str] | None = None) -> PipelineResult:
        """Run every enabled stage not yet done; ``from_stage`` redoes it and all later stages."""
        from tunewise.report import environment_versions

        if from_stage is not None and from_stage not in STAGES:
            raise ConfigError(f"--from {from_stage!r}: not a stage; one of {', '.join(STAGES)}")
        for stage in only or ():
            if stage not in STAGES:
                raise ConfigError(f"--only {stage!r}: not a stage; one of {', '.join(STAGES)}")
        self.check_inputs_exist(only)
        if from_stage is not None:
            for stage in STAGES[STAGES.index(from_stage):]:
                self.store.clear_stage(stage_marker(stage))
        self.store.save_config(self.config.model_dump(mode="json"))
        versions = environment_versions()
        if not self.store.get_record("pipeline.provenance", "versions"):
            self.store.put_record("pipeline.provenance", "versions", versions)
        started = time.perf_counter()
        outcomes = []
        # A failed stage does not stop the others: an hour of persona or gate work should not be
        # lost because, say, the judge broke. Failures are recorded, shown in the report, and
        # raised by run_experiment once everything else has run.
        for number, stage in enumerate(STAGES, 1):
            outcomes.append(self._run_stage(stage, number, only))
        report = self.run_dir / "report.html"
        return PipelineResult(self.run_dir, outcomes, report if report.exists() else None,
                              time.perf_counter() - started)

    def check_inputs_exist(self, only: list[str] | None) -> None:
        """Fail before the first stage, not an hour later, when a file the experiment names is missing."""
        vectors = self.config.persona.vectors
        wanted = self.enabled("persona") and (not only or "persona" in only)
        if wanted and vectors and not Path(vectors).exists():
            raise ConfigError(f"persona.vectors: {vectors} does not exist; extract vectors first "
                              "(tunewise persona extract --out DIR) or remove `vectors:` to extract them in this run")

    # Which config sections each stage's results depend on: a change there re-runs the stage.
    DEPENDS_ON = {"assess": ("assess",), "train": ("task", "train"), "audit": ("task", "train", "audit"),
                  "persona": ("task", "train", "persona"), "gate": ("task", "gate"), "report": ()}

    def stage_fingerprint(self, stage: str) -> str:
        """A key of everything the stage's results depend on (model, seed and its sections)."""
        from tunewise.runs.store import make_key

        dumped = self.config.model_dump(mode="json")
        return make_key(stage, dumped["model"], dumped["backend"], dumped["seed"],
                        {name: dumped[name] for name in self.DEPENDS_ON[stage]})

    def raise_for_failures(self, result: PipelineResult) -> None:
        """Raise a TunewiseError naming the failed stages (after they were recorded and reported)."""
        if not self.failures:
            return
        stage, first = self.failures[0]
        names = ", ".join(name for name, _ in self.failures)
        raise TunewiseError(f"stage(s) failed: {names}; first ({stage}): {type(first).__name__}: {first}. Everything "
                            f"else is in {result.run_dir} (report included); fix the cause and re-run: finished "
                            "stages are skipped") from first

    def _run_stage(self, stage: str, number: int, only: list[str] | None) -> StageOutcome:
        header = f"[{number}/{len(STAGES)}] {stage}"
        if only and stage not in only:
            return StageOutcome(stage, "skipped", "not in --only")
        if not self.enabled(stage):
            outcome = StageOutcome(stage, "disabled", f"{stage}.enabled is false in the experiment")
            self.store.put_record("pipeline.stage", stage, outcome.record())
            return outcome
        fingerprint = self.stage_fingerprint(stage)
        if stage != "report" and self.store.stage_done(stage_marker(stage)):
            previous = (self.store.stage_info(stage_marker(stage)) or {}).get("fingerprint")
            if previous == fingerprint:
                note(f"{header}: already done (use --from {stage} to redo)")
                return StageOutcome(stage, "skipped", "already done")
            note(f"{header}: the experiment's settings for this stage changed since it ran; running it again")
        console.rule(header)
        started = time.perf_counter()
        try:
            info = getattr(self, f"stage_{stage}")() or {}
        except StageUnavailable as exc:
            outcome = StageOutcome(stage, "not available", str(exc), time.perf_counter() - started)
            console.print(f"[yellow]{stage}: not available:[/yellow] {escape(str(exc))}")
            self.store.put_record("pipeline.stage", stage, outcome.record())
            return outcome
        except Exception as exc:
            outcome = StageOutcome(stage, "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
            self.store.put_record("pipeline.stage", stage, outcome.record())
            self.failures.append((stage, exc))
            console.print(f"[red]{stage} failed:[/red] {escape(f'{type(exc).__name__}: {exc}')}")
            return outcome
        wall = time.perf_counter() - started
        status = "skipped" if info.get("skipped") else "done"
        outcome = StageOutcome(stage, status, str(info.get("skipped", "")), wall, info)
        self.store.put_record("pipeline.stage", stage, outcome.record())
        self.store.mark_stage_done(stage_marker(stage), {"wall_s": wall, "fingerprint": fingerprint, **info})
        note(f"{header}: {status} in {wall:.0f} s")
        return outcome


def run_experiment(config: ExperimentConfig, run_dir: str | Path | None = None, from_stage: str | None = None,
                   only: list[str] | None = None) -> PipelineResult:
    """Run an experiment (see ``Pipeline``); if a stage failed, raise after every other stage and the
    report have run."""
    pipeline = Pipeline(config, run_dir)
    result = pipeline.run(from_stage=from_stage, only=only)
    pipeline.raise_for_failures(result)
    return result
