"""``run_assess``: every strategy on every model, the fine-tune curve, the recommendation.

The one entry point of the capability: ``tunewise assess`` and the pipeline's assess stage both
call it with an ``AssessConfig``, so they measure the same thing. Everything lands in the run
store as it is produced (records ``assess.strategy``, ``assess.curve``, ``assess.upgrade``,
``assess.recommendation``, and ``assess.skipped`` for what the data cannot support: see
plan.py), so the report reads the same numbers the terminal shows and an interrupted run
resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewise.assess.config import AssessConfig
from tunewise.assess.evaluate import evaluate_strategy
from tunewise.assess.finetune import train_adapter
from tunewise.assess.metrics import build_scorer
from tunewise.assess.plan import plan_run, with_description
from tunewise.assess.prices import load_prices, price_for
from tunewise.assess.recommend import Recommendation, recommend
from tunewise.assess.strategies import Strategy, parse_strategy
from tunewise.assess.task import Task, load_task
from tunewise.models.refs import parse_model_ref
from tunewise.models.types import SamplingParams
from tunewise.progress import note
from tunewise.runs.store import RunStore, make_key

DEFAULT_RUN_DIR = Path("runs/assess")


@dataclass
class AssessResult:
    """What ``run_assess`` measured; each list holds the payloads of the store records of the same
    name (``strategies`` = ``assess.strategy``, ``curve``, ``upgrade``), ``recommendation`` is the
    ``assess.recommendation`` record."""

    task: dict
    strategies: list[dict]
    curve: list[dict]
    upgrade: list[dict]
    recommendation: Recommendation
    prices_source: str = ""
    notes: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    #: ``assess.skipped`` payloads: strategies (and the fine-tune) the data cannot support
    skipped: list[dict] = field(default_factory=list)


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


def _record(store: RunStore, kind: str, key_parts: tuple, payload: dict) -> None:
    store.put_record(kind, make_key(*key_parts), payload)


def run_assess(config: AssessConfig, run_dir: str | Path | None = None, *, store: RunStore | None = None
               ) -> AssessResult:
    """Answer "does prompting already solve the task?" with measurements and a recommendation.

    ``run_dir`` defaults to the store's folder when ``store`` is given (the pipeline shares one),
    else ``runs/assess``; a store opened here is closed when done. Re-running resumes: answers
    already in the store are not generated again, finished adapters are not trained again.
    """
    from tunewise.runs.store import check_run_folder

    if run_dir is None:
        run_dir = store.run_dir if store is not None else DEFAULT_RUN_DIR
    run_dir = Path(run_dir)
    check_run_folder(run_dir)  # also when a shared store is passed in
    if store is not None:
        return _run(config, run_dir, store)
    with RunStore(run_dir) as own_store:
        own_store.save_config({"assess": config.model_dump(mode="json")})  # a shared store holds its owner's
        return _run(config, run_dir, own_store)


def _run(config: AssessConfig, run_dir: Path, store: RunStore) -> AssessResult:
    task = load_task(config.task, n=config.n_examples, seed=config.seed, test_size=_size(config.test_size),
                     dev_size=_size(config.dev_size), metric=config.metric, instruction=config.instruction,
                     description=config.description)
    scorer = build_scorer(task.metric)
    tuned_model = config.finetune_model or _default_finetune_model(config.models)
    # Everything the data decides is decided here, before the first model is loaded.
    plan = plan_run(task, [parse_strategy(s) for s in config.strategies], config.finetune and tuned_model is not None,
                    config.train_sizes)
    notes: list[str] = []
    derived = None
    if any(s.kind == "instructions" for s in plan.strategies):
        task, derived = with_description(task)
        if derived:
            notes.append(derived)
    strategies = plan.strategies
    prices = load_prices(config.prices)
    params = SamplingParams(temperature=0.0, max_tokens=config.max_tokens, seed=config.seed)
    note(f"task {task.name}: train {len(task.train)}, dev {len(task.dev)}, test {len(task.test)}; "
         f"metric {task.metric.name}")
    for skipped in plan.skipped:
        note(f"skipped {skipped.strategy}: {skipped.reason}")
        if skipped.strategy == "lora":
            notes.append(f"no fine-tune: {skipped.reason}; add examples, lower --test-size or give --train-sizes "
                         "that fit")
        _record(store, "assess.skipped", (skipped.strategy, task.name), {**skipped.to_dict(), "task": task.name})
    rows: list[dict] = []
    for model in config.models:
        backend = _load(model, config)
        for strategy in strategies:
            row = evaluate_strategy(backend, model, strategy, task, scorer, params, price_for(model, prices), store,
                                    use_prefix_cache=config.prefix_cache, seed=config.seed)
            if strategy.kind == "instructions":  # what the instructions strategy used, and whence
                row.update(description=task.description, description_source="derived" if derived else "task")
            _record(store, "assess.strategy", (model, strategy.name, task.name), row)
            note(f"{model} {strategy.name}: {100 * row['accuracy']:.1f}% in {row['wall_s']:.1f}s")
            rows.append(row)
        del backend
    curve, finetune_row = [], None
    if config.finetune and tuned_model is None:
        notes.append("no fine-tune: every model is API-only; give --finetune-model")
    elif config.finetune and plan.curve_sizes:
        adapters = Path(config.adapters_dir) if config.adapters_dir else run_dir / "adapters" / "assess"
        curve, finetune_row = _finetune(config, task, tuned_model, scorer, params, prices, store, adapters,
                                        plan.curve_sizes)
        rows.append(finetune_row)
    prompting = [r for r in rows if not r["strategy"].startswith("lora")]
    decision = recommend(prompting, finetune_row, config.margin_points)
    upgrade = upgrade_view(prompting, curve, tuned_model, config.models)
    for row in upgrade:
        _record(store, "assess.upgrade", (row["model"], task.name), row)
    _record(store, "assess.recommendation", (task.name,), {**decision.to_dict(), "task": task.name})
    store.mark_stage_done("assess", {"task": task.name, "decision": decision.decision})
    return AssessResult(task=task.summary(), strategies=rows, curve=curve, upgrade=upgrade,
                        recommendation=decision, prices_source=prices["source"], notes=notes, run_dir=run_dir,
                        skipped=[s.to_dict() for s in plan.skipped])


def _size(value: float | None) -> int | float | None:
    return value if value is None or value < 1 else int(value)


def _finetune(config: AssessConfig, task: Task, base_model: str, scorer, params, prices, store: RunStore,
              adapters: Path, sizes: list[int]):
    """The learning curve at ``sizes`` (planned by ``plan_curve``, never empty here).

    Every adapter is trained first, then all are scored on one loaded base model with each
    adapter applied in turn (``LoraSwitcher``): loading base+adapter afresh per point loaded the
    base weights once per point (2-4 s for SmolLM2-135M, 5-10 s for the 0.5B model here), and the
    switcher computes what that fresh load computes (no merge). Training first keeps one model in
    memory at a time, as before; each point is independent, so the order changes no result."""
    from tunewise.models.hf import LoraSwitcher

    trained = {size: train_adapter(task, base_model, size, adapters, config.train_options, store, seed=config.seed)
               for size in sizes}
    curve = []
    zero_shot = Strategy(name="zero-shot", kind="zero-shot")
    switcher = LoraSwitcher(config.batch_size)
    try:
        for size in sizes:
            tuned = str(parse_model_ref(base_model).with_lora(trained[size]["adapter_dir"]))
            row = evaluate_strategy(switcher.backend(tuned), tuned, zero_shot, task, scorer, params,
                                    price_for(base_model, prices), store, use_prefix_cache=config.prefix_cache,
                                    seed=config.seed)
            point = {"model": base_model, "train_size": size, "accuracy": row["accuracy"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"], "n": row["n"], **trained[size]}
            _record(store, "assess.curve", (base_model, task.name, size), point)
            note(f"LoRA on {size} examples: {100 * row['accuracy']:.1f}% "
                 f"(trained in {trained[size]['train_wall_s']:.0f}s)")
            curve.append(point)
            final = {**row, "strategy": f"lora-{size}", "k": size, "model": tuned, "base_model": base_model,
                     "train_wall_s": trained[size]["train_wall_s"]}
    finally:
        switcher.close()
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
