"""``tunewise run``: chain assess -> train -> audit -> persona -> gate -> report in one run folder.

The pipeline only sequences: each stage builds its capability's config from the experiment
(``stage_configs``) and calls ``run_<capability>(config, run_dir, store=...)``, the same call the
capability's own command makes, so ``tunewise gate fit`` and ``tunewise run`` cannot measure the
same gate differently. A finished stage is marked in the store (``pipeline:<stage>``, with a
fingerprint of the settings it depends on) and skipped on the next run; inside a stage the
capabilities skip rows already stored. ``from_stage`` forgets the marks of that stage and every
later one. A stage whose capability cannot run here (an API model has no weights to train) is
recorded as "not available" with the reason; nothing is made up in its place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from tunewise.errors import ConfigError, TunewiseError
from tunewise.pipeline import stage_configs
from tunewise.pipeline.config import ExperimentConfig
from tunewise.progress import RunView, console, note

STAGES = ("assess", "train", "audit", "persona", "gate", "report")
# Which config sections each stage's results depend on: a change there re-runs the stage.
DEPENDS_ON = {"assess": ("assess",), "train": ("task", "train"), "audit": ("task", "train", "audit"),
              "persona": ("task", "train", "persona"), "gate": ("task", "gate"), "report": ()}


class StageUnavailable(TunewiseError):
    """The stage cannot run with this experiment (e.g. it needs local weights)."""


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
    headline: list[str] = field(default_factory=list)  # the report's top sentences


def stage_marker(stage: str) -> str:
    """The store's stage name for a pipeline stage (capabilities mark their own names)."""
    return f"pipeline:{stage}"


class Pipeline:
    """One experiment in one run folder. Stages are methods named ``stage_<name>``."""

    def __init__(self, config: ExperimentConfig, run_dir: str | Path | None = None, show_progress: bool = True):
        from tunewise.runs.store import RunStore

        self.config = config
        self.show_progress = show_progress
        self.run_dir = Path(run_dir) if run_dir is not None else config.resolved_run_dir()
        self.store = RunStore(self.run_dir)
        self.failures: list[tuple[str, BaseException]] = []

    def require_local_weights(self, what: str) -> None:
        """Training and activation reading need the weights in this process, not behind an API."""
        if self.config.model.startswith("openai:"):
            raise StageUnavailable(f"{what} needs the model's weights (a packaged: or hf: reference); "
                                   f"{self.config.model} is served over HTTP")

    def trained_variants(self) -> dict[str, Path]:
        """Variants whose final adapter exists, {name: adapter folder}, in config order."""
        found = {}
        for variant in self.config.train.variants:
            adapter = self.run_dir / "adapters" / variant.name / "adapter"
            if (adapter / "adapter_config.json").exists():
                found[variant.name] = adapter
        return found

    # ------------------------------------------------------------------ stages
    def stage_assess(self) -> dict:
        from tunewise.assess import run_assess

        result = run_assess(stage_configs.assess_config(self.config, self.run_dir), self.run_dir, store=self.store)
        return {"decision": result.recommendation.decision}

    def stage_train(self) -> dict:
        from tunewise.train import run_train

        self.require_local_weights("training")
        if self.config.train.when == "recommended":
            recommendation = next(iter(self.store.records("assess.recommendation")[-1:]), None)
            if recommendation and recommendation.get("decision") == "prompting":
                return {"skipped": "assess recommends prompting and train.when is 'recommended'"}
        trained = {}
        for variant in self.config.train.variants:
            console.rule(f"train variant {variant.name}")
            # run_train resumes from the newest checkpoint and returns a finished run without training.
            result = run_train(stage_configs.train_config(self.config, variant), self.run_dir, store=self.store)
            trained[variant.name] = {"adapter_dir": str(result.adapter_dir), "wall_s": result.wall_s,
                                     "n_examples": result.n_examples}
        return {"variants": trained}

    def stage_audit(self) -> dict:
        from tunewise.audit import run_audit

        config = stage_configs.audit_config(self.config, self.trained_variants())
        result = run_audit(config, self.run_dir, store=self.store)
        return {"models": config.model_refs, "n_generated": result.n_generated, "n_judged": result.n_judged,
                "n_failed": result.n_failed}

    def stage_persona(self) -> dict:
        from tunewise.persona import run_persona

        self.require_local_weights("persona vectors (hidden states)")
        adapters = {name: path.parent for name, path in self.trained_variants().items()}
        result = run_persona(stage_configs.persona_config(self.config, adapters), self.run_dir, store=self.store)
        return result.summary()

    def stage_gate(self) -> dict:
        from tunewise.gate import run_gate

        result = run_gate(stage_configs.gate_config(self.config), self.run_dir, store=self.store)
        return {"threshold": float(result.threshold), "n_fit": result.n_fit, "n_eval": result.n_eval}

    def stage_report(self) -> dict:
        from tunewise.report import run_report

        result = run_report(stage_configs.report_config(self.config), self.run_dir, store=self.store)
        return {"path": str(result.path), "headline": list(result.headline)}

    # ------------------------------------------------------------------ driver
    def enabled(self, stage: str) -> bool:
        return self.enabled_in(self.config, stage)

    @staticmethod
    def enabled_in(config: ExperimentConfig, stage: str) -> bool:
        if stage == "assess":
            return config.assess.active
        return bool(getattr(getattr(config, stage, None), "enabled", True))

    def run(self, from_stage: str | None = None, only: list[str] | None = None) -> PipelineResult:
        """Run every enabled stage not yet done; ``from_stage`` redoes it and all later stages."""
        from tunewise.report import environment_versions

        for flag, stages in (("--from", [from_stage] if from_stage else []), ("--only", only or [])):
            for stage in stages:
                if stage not in STAGES:
                    raise ConfigError(f"{flag} {stage!r}: not a stage; one of {', '.join(STAGES)}")
        if from_stage is not None:
            for stage in STAGES[STAGES.index(from_stage):]:
                self.store.clear_stage(stage_marker(stage))
        self.store.save_config(self.config.model_dump(mode="json"))
        if not self.store.get_record("pipeline.provenance", "versions"):
            self.store.put_record("pipeline.provenance", "versions", environment_versions())
        started = time.perf_counter()
        self.view = self._run_view(from_stage, only)
        # A failed stage does not stop the others: an hour of persona or gate work should not be
        # lost because, say, the judge broke. Failures are recorded, shown in the report, and
        # raised by run_experiment once everything else has run.
        with self.view.live(self.show_progress):
            outcomes = [self._run_stage(stage, number, only) for number, stage in enumerate(STAGES, 1)]
        report = next((Path(o.info["path"]) for o in outcomes if o.stage == "report" and o.info.get("path")), None)
        return PipelineResult(self.run_dir, outcomes, report, time.perf_counter() - started,
                              next((o.info.get("headline", []) for o in outcomes if o.stage == "report"), []))

    def _run_view(self, from_stage: str | None, only: list[str] | None) -> RunView:
        """The run's progress view, its ETA planned by ``plan.plan_experiment`` (this folder's
        earlier timings, else the cost model); a plan that cannot be made leaves 0 s estimates."""
        from tunewise.pipeline.plan import plan_experiment

        try:
            plans = plan_experiment(self.config, self.run_dir, from_stage=from_stage, only=only)
            estimates = [p.estimate_s if p.status == "will run" else 0.0 for p in plans]
        except Exception as exc:  # the ETA is a convenience: a planner gap must not stop the run
            note(f"no time estimate for this run ({type(exc).__name__}: {exc})")
            estimates = [0.0] * len(STAGES)
        return RunView(self.config.name, list(STAGES), estimates)

    def stage_fingerprint(self, stage: str) -> str:
        return self.fingerprint_of(self.config, stage)

    @staticmethod
    def fingerprint_of(config: ExperimentConfig, stage: str) -> str:
        """A key of everything the stage's results depend on (model, seed and its sections)."""
        from tunewise.runs.store import make_key

        dumped = config.model_dump(mode="json")
        return make_key(stage, dumped["model"], dumped["backend"], dumped["seed"],
                        {name: dumped[name] for name in DEPENDS_ON[stage]})

    def raise_for_failures(self, result: PipelineResult) -> None:
        """Raise a TunewiseError naming the failed stages (after they were recorded and reported)."""
        if not self.failures:
            return
        stage, first = self.failures[0]
        names = ", ".join(name for name, _ in self.failures)
        raise TunewiseError(f"stage(s) failed: {names}; first ({stage}): {type(first).__name__}: {first}. Everything "
                            f"else is in {result.run_dir} (report included); fix the cause and re-run: finished "
                            "stages are skipped") from first

    def _finish(self, outcome: StageOutcome) -> StageOutcome:
        self.store.put_record("pipeline.stage", outcome.stage, outcome.record())
        return outcome

    def _run_stage(self, stage: str, number: int, only: list[str] | None) -> StageOutcome:
        header = f"[{number}/{len(STAGES)}] {stage}"
        if only and stage not in only:
            return StageOutcome(stage, "skipped", "not in --only")
        if not self.enabled(stage):
            return self._finish(StageOutcome(stage, "disabled", f"{stage}.enabled is false in the experiment"))
        fingerprint = self.stage_fingerprint(stage)
        if stage != "report" and self.store.stage_done(stage_marker(stage)):
            if (self.store.stage_info(stage_marker(stage)) or {}).get("fingerprint") == fingerprint:
                note(f"{header}: already done (use --from {stage} to redo)")
                return StageOutcome(stage, "skipped", "already done")
            note(f"{header}: the experiment's settings for this stage changed since it ran; running it again")
        console.rule(header)
        self.view.start(number - 1)
        started = time.perf_counter()
        try:
            info = getattr(self, f"stage_{stage}")() or {}
        except StageUnavailable as exc:
            console.print(f"[yellow]{stage}: not available:[/yellow] {escape(str(exc))}")
            return self._finish(StageOutcome(stage, "not available", str(exc), time.perf_counter() - started))
        except Exception as exc:
            self.failures.append((stage, exc))
            console.print(f"[red]{stage} failed:[/red] {escape(f'{type(exc).__name__}: {exc}')}")
            return self._finish(StageOutcome(stage, "failed", f"{type(exc).__name__}: {exc}",
                                             time.perf_counter() - started))
        finally:
            self.view.finish(number - 1, time.perf_counter() - started)
        wall = time.perf_counter() - started
        status = "skipped" if info.get("skipped") else "done"
        outcome = self._finish(StageOutcome(stage, status, str(info.get("skipped", "")), wall, info))
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
