"""``run_assess``: every strategy on every model, the fine-tune curve, the recommendation.

Everything lands in the run store as it is produced (records ``assess.strategy``,
``assess.curve``, ``assess.upgrade``, ``assess.recommendation``), so the report reads the same
numbers the terminal shows and an interrupted run resumes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tunewise.assess.evaluate import evaluate_strategy
from tunewise.assess.finetune import curve_sizes, train_adapter
from tunewise.assess.metrics import MetricSpec, build_scorer
from tunewise.assess.prices import load_prices, price_for
from tunewise.assess.recommend import Recommendation, recommend
from tunewise.assess.strategies import DEFAULT_STRATEGIES, Strategy, parse_strategy
from tunewise.assess.task import Task, load_task
from tunewise.errors import ConfigError
from tunewise.models.refs import DEFAULT_MODEL, parse_model_ref
from tunewise.models.types import SamplingParams
from tunewise.progress import note


class AssessConfig(BaseModel):
    """Configuration of ``tunewise assess``; field names are the CLI flags and YAML keys."""

    model_config = ConfigDict(extra="forbid")
    task: str = Field(description="built-in task name (dates, intents, extract, units) or a JSONL file")
    models: list[str] = Field(default_factory=lambda: [DEFAULT_MODEL], description="model references to prompt")
    backend: str | None = Field(None, description="hf, vllm or openai (default: by model reference)")
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    n_examples: int = Field(400, ge=10, description="built-in tasks: how many examples to generate")
    test_size: float = Field(50, gt=0, description="test items (a count, or a fraction when below 1)")
    dev_size: float = Field(0, ge=0)
    seed: int = Field(0, description="seeds the split, the fixed shots and the curve subsets")
    max_tokens: int = Field(32, ge=1, description="answer length limit (answers here are short)")
    batch_size: int = Field(16, ge=1)
    prefix_cache: bool = Field(True, description="hf: encode the shared prompt prefix once and reuse its KV cache")
    metric: MetricSpec | None = Field(None, description="default: the task's own metric (built-in) or normalized")
    instruction: str | None = Field(None, description="one-line instruction for zero-shot and few-shot prompts")
    description: str | None = Field(None, description="detailed instructions for the instructions strategy")
    finetune: bool = Field(True, description="train the LoRA baseline and its learning curve")
    finetune_model: str | None = Field(None, description="model to fine-tune (default: first non-API model)")
    train_sizes: list[int] = Field(default_factory=lambda: [16, 64, 256, 0], description="learning curve; 0 = all")
    train_options: dict = Field(default_factory=lambda: {"epochs": 2, "lr": 2e-4, "lora_rank": 8,
                                                          "checkpoint_every": 1000},
                                description="TrainConfig fields for the baseline")
    prices: str | None = Field(None, description="price table YAML (default: the example table shipped)")
    margin_points: float = Field(2.0, ge=0, description="decision margin in accuracy points")
    adapters_dir: str | None = Field(None, description="where adapters go (default: <run>/adapters)")


@dataclass
class AssessResult:
    task: dict
    strategies: list[dict]
    curve: list[dict]
    upgrade: list[dict]
    recommendation: Recommendation
    prices_source: str = ""
    notes: list[str] = field(default_factory=list)


def _default_finetune_model(models: list[str]) -> str | None:
    local = [m for m in models if parse_model_ref(m).scheme != "openai"]
    return local[0] if local else None


def _load(model: str, config: AssessConfig):
    from tunewise.models import load_backend
    from tunewise.models.registry import backend_name

    engine = backend_name(model, config.backend)
    options: dict = {}
    if engine == "hf":
        options = {"batch_size": config.batch_size}
    elif engine == "vllm":  # vLLM's automatic prefix caching is the KV reuse there
        options = {"enable_prefix_caching": config.prefix_cache}
    return load_backend(model, backend=engine, **options)


def _record(store, kind: str, key_parts: tuple, payload: dict) -> None:
    if store is not None:
        from tunewise.runs.store import make_key

        store.put_record(kind, make_key(*key_parts), payload)


def run_assess(config: AssessConfig, store=None) -> AssessResult:
    """Answer "does prompting already solve the task?" with measurements and a recommendation."""
    task = load_task(config.task, n=config.n_examples, seed=config.seed, test_size=_size(config.test_size),
                     dev_size=_size(config.dev_size), metric=config.metric, instruction=config.instruction,
                     description=config.description)
    scorer = build_scorer(task.metric)
    strategies = [parse_strategy(s) for s in config.strategies]
    prices = load_prices(config.prices)
    params = SamplingParams(temperature=0.0, max_tokens=config.max_tokens, seed=config.seed)
    if store is not None:
        store.save_config({"assess": config.model_dump()})
    note(f"task {task.name}: train {len(task.train)}, dev {len(task.dev)}, test {len(task.test)}; "
         f"metric {task.metric.name}")
    rows: list[dict] = []
    for model in config.models:
        backend = _load(model, config)
        for strategy in strategies:
            row = evaluate_strategy(backend, model, strategy, task, scorer, params, price_for(model, prices), store,
                                    use_prefix_cache=config.prefix_cache, seed=config.seed)
            _record(store, "assess.strategy", (model, strategy.name, task.name), row)
            note(f"{model} {strategy.name}: {100 * row['accuracy']:.1f}% in {row['wall_s']:.1f}s")
            rows.append(row)
        del backend
    curve, finetune_row = [], None
    tuned_model = config.finetune_model or _default_finetune_model(config.models)
    notes: list[str] = []
    if config.finetune and tuned_model is None:
        notes.append("no fine-tune: every model is API-only; give --finetune-model")
    elif config.finetune:
        curve, finetune_row = _finetune(config, task, tuned_model, scorer, params, prices, store)
        rows.append(finetune_row)
    prompting = [r for r in rows if not r["strategy"].startswith("lora")]
    decision = recommend(prompting, finetune_row, config.margin_points)
    upgrade = upgrade_view(prompting, curve, tuned_model, config.models)
    for row in upgrade:
        _record(store, "assess.upgrade", (row["model"], task.name), row)
    _record(store, "assess.recommendation", (task.name,), {**decision.to_dict(), "task": task.name})
    if store is not None:
        store.mark_stage_done("assess", {"task": task.name, "decision": decision.decision})
    return AssessResult(task=task.summary(), strategies=rows, curve=curve, upgrade=upgrade,
                        recommendation=decision, prices_source=prices["source"], notes=notes)


def _size(value: float) -> int | float:
    return value if value < 1 else int(value)


def _finetune(config: AssessConfig, task: Task, base_model: str, scorer, params, prices, store):
    adapters = Path(config.adapters_dir) if config.adapters_dir else \
        (store.run_dir / "adapters" if store is not None else Path(tempfile.mkdtemp(prefix="tunewise-assess-")))
    from tunewise.models import load_backend

    curve = []
    zero_shot = Strategy(name="zero-shot", kind="zero-shot")
    sizes = curve_sizes(config.train_sizes, len(task.train))
    if not sizes:
        raise ConfigError(f"train_sizes {config.train_sizes}: none fits the {len(task.train)} train items")
    for size in sizes:
        trained = train_adapter(task, base_model, size, adapters / f"assess-{task.name}-{size}",
                                config.train_options, store, seed=config.seed)
        tuned = str(parse_model_ref(base_model).with_lora(trained["adapter_dir"]))
        backend = load_backend(tuned, backend="hf", batch_size=config.batch_size)
        row = evaluate_strategy(backend, tuned, zero_shot, task, scorer, params, price_for(base_model, prices),
                                store, use_prefix_cache=config.prefix_cache, seed=config.seed)
        del backend
        point = {"model": base_model, "train_size": size, "accuracy": row["accuracy"], "ci_low": row["ci_low"],
                 "ci_high": row["ci_high"], "n": row["n"], **trained}
        _record(store, "assess.curve", (base_model, task.name, size), point)
        note(f"LoRA on {size} examples: {100 * row['accuracy']:.1f}% (trained in {trained['train_wall_s']:.0f}s)")
        curve.append(point)
        final = {**row, "strategy": f"lora-{size}", "k": size, "model": tuned, "base_model": base_model,
                 "train_wall_s": trained["train_wall_s"]}
    _record(store, "assess.strategy", (final["model"], final["strategy"], task.name), final)
    return curve, final


def upgrade_view(prompting: list[dict], curve: list[dict], tuned_model: str | None, models: list[str]) -> list[dict]:
    """Per model: what it takes to move the task there. Prompts port as they are (no training);
    a fine-tune must be redone on each new base model, and API-only models cannot be tuned here."""
    train_s = curve[-1]["train_wall_s"] if curve else None
    view = []
    for model in models:
        own = [r for r in prompting if r["model"] == model]
        best = max(own, key=lambda r: r["accuracy"], default=None)
        api = parse_model_ref(model).scheme == "openai"
        if model == tuned_model and curve:
            finetune = f"trained here: {curve[-1]['train_size']} examples, {train_s:.0f}s"
        elif api:
            finetune = "not possible here (API-only model)"
        elif train_s is not None:
            finetune = f"must be redone on this model (took {train_s:.0f}s on {tuned_model})"
        else:
            finetune = "not run"
        view.append({"model": model, "best_strategy": best["strategy"] if best else None,
                     "best_accuracy": best["accuracy"] if best else None,
                     "prompting_port": "re-run the same prompts: no training", "finetune_port": finetune})
    return view
