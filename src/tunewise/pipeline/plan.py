"""``tunewise run --dry-run``: what each stage will do and how long it should take, no model loaded.

Every stage's work is counted with the capabilities' own pure planners (assess's ``load_task`` and
``build_prompts``, audit's ``plan_samples``, persona's ``contrast_chats``, the task's chats), so the
plan counts the same prompts the run will send. Its time comes from the first of:

1. **this run folder's timings**: a stage that finished here before with the same settings (its
   ``pipeline:<stage>`` mark holds the fingerprint and wall time) is expected to take that long
   again (``--from`` redoes it);
2. **the cost model** (``CostModel``): tokens of work divided by a throughput that scales as
   1 / parameters, plus a load time per model. Its constants were measured on the 2-core
   development CPU (avx2, no avx512/bf16; see ``CostModel``), so on other machines they are a
   starting point; the run's progress view rescales them by how long the finished stages took.

A stage already done with the same settings is planned at 0 s: the run will skip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewise.errors import TunewiseError
from tunewise.pipeline import stage_configs
from tunewise.train.config import optimizer_steps

CHARS_PER_TOKEN = 3.5  # English and Python through the BPE tokenizers of the packaged models
TEMPLATE_TOKENS = 20  # chat-template tokens around a chat (role markers, SmolLM2's default system prompt)
PACKAGED_PARAMETERS = {"smollm2-135m-instruct": 135e6, "qwen2.5-coder-0.5b-instruct": 494e6}
UNKNOWN_PARAMETERS = 500e6


@dataclass(frozen=True)
class CostModel:
    """Seconds of work on the hf backend, float32, as (parameters x tokens) / a measured constant.

    Measured on the development machine (2 cores, avx2, no avx512/bf16, torch 2.13, 2 threads):
    batched decode at batch 16, SmolLM2-135M ~ 97 new tok/s and Qwen-0.5B ~ 35 tok/s
    (shared/ENVIRONMENT.md), so ``decode`` ~ 1.3e10 / params tok/s, rising as batch^0.4 (the
    idle-machine audits, decoded at batch 40-48: 57 s for the quick demo's 140 answers of 64
    tokens, 506 s for the full demo's 210 of 96, fit ~ 2.2e10 at batch 48; the rise goes on to
    256 rows: an 896x4864 float32 product ran at 36 GFLOP/s with 30 rows, 78 with 128 and 99 with
    256, which is why the audit and the monitor batch every model's rows together); LoRA training, the
    idle-machine demo train stages (41 s and 221 s, 2 variants each), ~ 2.7e10 / params tok/s;
    prompt prefill and hidden-state reads, the quick demo's assess strategies (30 prompts of ~200
    tokens, 8 new tokens each, 13-16 s at load ~1), ~ 6e10 / params tok/s; loading a cached model
    ~ 2 s + 1 s per 100M parameters. A busier CPU is slower: the progress view rescales the
    estimates once a stage has finished.

    Refitted (issue 18) to the last idle float32 runs of both demos on that machine (quick:
    assess 64, train 43, audit 49, persona 48 s; ``make demo``: 197, 158, 272, 183 s), by a grid
    over the four constants below minimising the squared log error of the eight stages: cost
    grows as params^0.65 rather than params (the 0.5B model's wider products run nearer the
    CPU's peak), decode x0.9, prefill x5 (prompts are read in a few wide products), training
    unchanged. Before the refit the estimates were 1.1-1.5x the quick demo's stages and 1.4-2.1x
    the full demo's (24:01 planned for a 13.7-min demo); after it, within 0.84-1.16x of all eight."""

    reference_params: float = 135e6
    params_exponent: float = 0.65
    decode: float = 1.17e10  # at batch 16, at the reference size
    decode_batch_exponent: float = 0.4
    prefill: float = 3e11
    train: float = 2.7e10
    load_fixed_s: float = 2.0
    load_per_param_s: float = 1e-8
    judge_per_answer_s: float = 0.02  # the local judge: a small classifier over sentence embeddings
    gate_per_text_s: float = 0.02
    gate_fixed_s: float = 3.0
    report_s: float = 3.0

    def load(self, params: float) -> float:
        return self.load_fixed_s + self.load_per_param_s * params

    def work(self, params: float) -> float:
        """The parameters a token's cost scales with: ``params`` at the reference size, less than
        proportionally above it (a larger model's wider products run nearer the CPU's peak)."""
        return self.reference_params * (params / self.reference_params) ** self.params_exponent

    def sampling(self, params: float, prompt_tokens: float, rows: int, new_tokens: int, batch: int = 16) -> float:
        """Prefill every prompt, then ``new_tokens`` decode steps for each of ``rows`` sequences,
        ``batch`` rows decoded together."""
        together = max(1, min(batch, rows, 256))
        decode = self.decode * (together / 16) ** self.decode_batch_exponent
        return self.work(params) * (prompt_tokens / self.prefill + rows * new_tokens / decode)

    def forward(self, params: float, tokens: float) -> float:
        return self.work(params) * tokens / self.prefill

    def training(self, params: float, tokens: float) -> float:
        return self.work(params) * tokens / self.train


@dataclass
class StagePlan:
    """One stage of the plan: what it will do and for how long."""

    stage: str
    number: int
    status: str  # will run | already done | disabled | not in --only | will fail
    work: list[str] = field(default_factory=list)
    estimate_s: float = 0.0
    source: str = ""  # cost model | previous run in this folder | ""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "number": self.number, "status": self.status, "work": self.work,
                "estimate_s": self.estimate_s, "source": self.source}


def model_parameters(ref: str) -> float:
    """Parameters of a model ref without loading it: the packaged table, else the size of a local
    folder's safetensors (float32: 4 bytes each), else a 0.5B guess. Adapters add ~nothing."""
    from tunewise.models.refs import parse_model_ref

    parsed = parse_model_ref(ref)
    if parsed.scheme == "packaged" and parsed.name in PACKAGED_PARAMETERS:
        return PACKAGED_PARAMETERS[parsed.name]
    folder = Path(parsed.name).expanduser()
    if parsed.scheme == "hf" and folder.is_dir():
        size = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        if size:
            return size / 4
    return UNKNOWN_PARAMETERS


def chat_tokens(chat: list[dict]) -> float:
    return TEMPLATE_TOKENS + sum(len(m["content"]) for m in chat) / CHARS_PER_TOKEN


def _checkpoint_steps(steps: int, every: int) -> list[int]:
    return sorted(set(range(every, steps + 1, every)) | {steps})


# ------------------------------------------------------------------ per stage: (work lines, seconds)
def _assess(config, cost: CostModel) -> tuple[list[str], float]:
    from tunewise.assess.plan import plan_run
    from tunewise.assess.strategies import Strategy, build_prompts, parse_strategy
    from tunewise.assess.task import load_task

    ac = stage_configs.assess_config(config)
    count = lambda v: int(v) if v is not None and v >= 1 else v  # noqa: E731  (a fraction stays one)
    task = load_task(ac.task, n=ac.n_examples, seed=ac.seed, test_size=count(ac.test_size),
                     dev_size=count(ac.dev_size), metric=ac.metric, instruction=ac.instruction,
                     description=ac.description)
    local = [m for m in ac.models if not m.startswith("openai:")]
    plan = plan_run(task, [parse_strategy(s) for s in ac.strategies], ac.finetune and bool(local), ac.train_sizes)
    work = [f"task {task.name}: train {len(task.train)}, test {len(task.test)}; {len(ac.models)} model(s) x "
            f"{len(plan.strategies)} strategies ({', '.join(s.name for s in plan.strategies)}) x {len(task.test)} "
            f"answers of <= {ac.max_tokens} tokens"]
    seconds = 0.0
    for model in ac.models:
        params = model_parameters(model)
        seconds += cost.load(params)
        for strategy in plan.strategies:
            # knn picks its shots with an embedding model; fixed shots of the same k cost the same
            knn = strategy.kind == "knn"
            counted = Strategy(name=strategy.name, kind="few-shot", k=strategy.k) if knn else strategy
            chats = build_prompts(counted, task, task.test, seed=ac.seed)
            seconds += cost.sampling(params, sum(chat_tokens(c) for c in chats), len(chats), ac.max_tokens,
                                     ac.batch_size)
    if plan.curve_sizes and local:
        options, params = ac.train_options, model_parameters(ac.finetune_model or local[0])
        item_tokens = sum(min(options.max_length, chat_tokens([{"content": i.input}, {"content": i.output}]))
                          for i in task.train) / max(1, len(task.train))
        steps = [optimizer_steps(size, options.batch_size, options.grad_accum, options.epochs, options.max_steps)
                 for size in plan.curve_sizes]
        work.append(f"learning curve: LoRA on {', '.join(map(str, plan.curve_sizes))} examples "
                    f"({', '.join(map(str, steps))} steps), each evaluated zero-shot on the test split")
        for size, n_steps in zip(plan.curve_sizes, steps):
            seconds += cost.load(params) * 2 + cost.training(params, n_steps * options.batch_size *
                                                             options.grad_accum * item_tokens)
            seconds += cost.sampling(params, len(task.test) * item_tokens, len(task.test), ac.max_tokens,
                                     ac.batch_size)
    for skipped in plan.skipped:
        work.append(f"skips {skipped.strategy}: {skipped.reason}")
    return work, seconds


def _train_chats(config):
    from tunewise.data.tasks.narrow import load_task_chats

    return load_task_chats(config.task.source, n=config.task.n_examples, seed=config.seed)


def _variant_steps(config, n_chats: int) -> int:
    t = config.train
    return optimizer_steps(n_chats, t.batch_size, t.grad_accum, t.epochs, t.max_steps)


def _train(config, cost: CostModel) -> tuple[list[str], float]:
    chats = _train_chats(config)
    params = model_parameters(config.model)
    tokens = sum(min(config.train.max_length, chat_tokens(c.messages)) for c in chats)
    steps = _variant_steps(config, len(chats))
    passes = steps * config.train.batch_size * config.train.grad_accum / max(1, len(chats))
    names = [v.name for v in config.train.variants]
    work = [f"{len(names)} LoRA variant(s) ({', '.join(names)}) on {len(chats)} chats of {config.task.source}: "
            f"{steps} steps each, a checkpoint every {config.train.checkpoint_every}"]
    seconds = len(names) * (cost.load(params) + cost.training(params, tokens * passes))
    return work, seconds


def _audit(config, cost: CostModel, run_dir: Path) -> tuple[list[str], float]:
    from tunewise.audit.controls import POSITIVE, positive_chat
    from tunewise.audit.sampling import plan_samples
    from tunewise.data.probes import load_probe_set
    from tunewise.models.types import SamplingParams

    planned = {v.name: run_dir / "adapters" / v.name / "adapter" for v in config.train.variants} \
        if config.train.enabled else {}
    ac = stage_configs.audit_config(config, planned)
    probes = load_probe_set(ac.probes)
    samples = ac.samples if "samples" in ac.model_fields_set or not probes.default_samples else probes.default_samples
    params_ = SamplingParams(n=samples, temperature=ac.temperature, max_tokens=ac.max_tokens, seed=ac.seed)
    variants, options = ac.audited_variants(), ac.variant_options()
    refs = ac.model_refs
    from tunewise.models.mixed_lora import can_mix

    mixed = can_mix(list(refs.values()), ac.backend)  # one base and its adapters: rows in shared batches
    seconds, answers, prompt_tokens = 0.0, 0, 0
    for label, ref in refs.items():
        plan = plan_samples(label, ref, probes, variants, options, params_)
        if label == next(iter(refs)) and "positive" in ac.controls:
            plan += plan_samples(POSITIVE, ref, probes, ["plain"], options, params_, chat_transform=positive_chat)
        params = model_parameters(ref)
        chats = {id(item["chat"]): item["chat"] for item in plan}
        tokens = sum(chat_tokens(c) for c in chats.values()) * samples
        if not mixed:
            seconds += cost.load(params) + cost.sampling(params, tokens, len(plan), ac.max_tokens, ac.batch_size)
        answers += len(plan)
        prompt_tokens += tokens
    if mixed:
        params = model_parameters(next(iter(refs.values())))
        seconds += cost.load(params) + cost.sampling(params, prompt_tokens, answers, ac.max_tokens, ac.batch_size)
    seconds += answers * cost.judge_per_answer_s
    work = [f"{len(refs)} model(s) ({', '.join(refs)}) x {len(probes.probes)} probes of {probes.name} x "
            f"{len(variants)} variant(s) ({', '.join(variants)}) x {samples} samples of <= {ac.max_tokens} tokens",
            f"controls: {', '.join(ac.controls) or 'none'}; {answers} answers judged by {ac.judge}"]
    return work, seconds


def _persona(config, cost: CostModel) -> tuple[list[str], float]:
    from tunewise.data.probes import load_probe_set
    from tunewise.persona.traits import contrast_chats, load_trait

    pc = stage_configs.persona_config(config)
    params = model_parameters(pc.model)
    seconds = cost.load(params)
    n_contrast, questions = 0, 0
    for trait in (load_trait(t) for t in pc.traits):
        chats = (contrast_chats(trait, trait.extraction_questions[:pc.questions], pc.pairs)
                 + contrast_chats(trait, trait.evaluation_questions[:pc.eval_questions], pc.pairs))
        prompt = sum(chat_tokens(c) for _, c in chats)
        rows = len(chats) * pc.samples
        seconds += cost.sampling(params, prompt * pc.samples, rows, pc.max_tokens, pc.batch_size)
        seconds += cost.forward(params, prompt * pc.samples + rows * pc.max_tokens)  # activations over the answers
        n_contrast += rows
        questions += len(trait.evaluation_questions[:pc.eval_questions] or trait.evaluation_questions)
    work = [f"extract {len(pc.traits)} trait vector(s) ({', '.join(pc.traits)}): {n_contrast} contrast answers of "
            f"<= {pc.max_tokens} tokens"]
    if pc.screening and pc.screen_examples != 0:
        chats = _train_chats(config)[:pc.screen_examples]
        prompt = sum(chat_tokens(c.prompt_messages) for c in chats)
        seconds += cost.sampling(params, prompt, len(chats), pc.screen_max_tokens, pc.batch_size)
        seconds += cost.forward(params, sum(chat_tokens(c.messages) for c in chats) + prompt
                                + len(chats) * pc.screen_max_tokens)
        work.append(f"screen {len(chats)} training chats (base answers of <= {pc.screen_max_tokens} tokens)")
    if "monitor" in pc.steps:
        n_chats = len(_train_chats(config)) if config.train.enabled else 0
        checkpoints = len(_checkpoint_steps(_variant_steps(config, n_chats), config.train.checkpoint_every)) \
            if n_chats else 0
        models = 1 + checkpoints * len(config.train.variants)
        knowledge = len(load_probe_set(pc.knowledge_probes).probes) if pc.knowledge_probes else 0
        # knowledge retention: the base and every checkpoint decode their probes in shared batches
        # (persona.monitor._knowledge_together); the drift reads run per checkpoint
        seconds += cost.sampling(params, models * knowledge * TEMPLATE_TOKENS * 2, models * knowledge, 48,
                                 max(pc.batch_size, 64))
        seconds += models * cost.forward(params, questions * TEMPLATE_TOKENS * 2)
        seconds += checkpoints * len(config.train.variants) * 0.5  # applying an adapter
        work.append(f"monitor drift on {models} model(s) (base + {checkpoints} checkpoint(s) x "
                    f"{len(config.train.variants)} variant(s)), knowledge on {knowledge} "
                    f"{pc.knowledge_probes or 'no'} probes each")
    return work, seconds


def _gate(config, cost: CostModel) -> tuple[list[str], float]:
    gc = stage_configs.gate_config(config)
    n = getattr(gc, "n_per_set", 60)
    return ([f"fit the domain gate on {gc.data}: {n} texts per set"], cost.gate_fixed_s + 3 * n * cost.gate_per_text_s)


def _report(config, cost: CostModel) -> tuple[list[str], float]:
    return (["write report.html and the headline from the run store"], cost.report_s)


def _previous(run_dir: Path, config, stage: str) -> tuple[bool, float | None]:
    """(done here with the same settings, wall seconds of its last finished run here). The wall
    time is the ``pipeline.stage`` record, which ``--from`` keeps (it clears only the marks)."""
    from tunewise.pipeline.run import Pipeline, stage_marker
    from tunewise.runs.store import RunStore

    if not (run_dir / "tunewise.sqlite").exists():
        return False, None
    with RunStore(run_dir) as store:
        marker = stage_marker(stage)
        info = store.stage_info(marker) if store.stage_done(marker) else None
        record = store.get_record("pipeline.stage", stage) or {}
    same = bool(info) and info.get("fingerprint") == Pipeline.fingerprint_of(config, stage)
    wall = record.get("wall_s") if record.get("status") == "done" else None
    return same, float(wall) if wall else None


def plan_experiment(config, run_dir: str | Path | None = None, cost: CostModel | None = None,
                    from_stage: str | None = None, only: list[str] | None = None) -> list[StagePlan]:
    """The plan of ``tunewise run`` for ``config`` in ``run_dir``; reads data files, loads no model."""
    from tunewise.pipeline.run import STAGES, Pipeline

    cost = cost or CostModel()
    run_dir = Path(run_dir) if run_dir is not None else config.resolved_run_dir()
    redo = set(STAGES[STAGES.index(from_stage):]) if from_stage else set()
    planners = {"assess": lambda: _assess(config, cost), "train": lambda: _train(config, cost),
                "audit": lambda: _audit(config, cost, run_dir), "persona": lambda: _persona(config, cost),
                "gate": lambda: _gate(config, cost), "report": lambda: _report(config, cost)}
    plans = []
    for number, stage in enumerate(STAGES, 1):
        if only and stage not in only:
            plans.append(StagePlan(stage, number, "not in --only"))
            continue
        if not Pipeline.enabled_in(config, stage):
            plans.append(StagePlan(stage, number, "disabled"))
            continue
        try:
            work, seconds = planners[stage]()
        except TunewiseError as exc:  # what the stage itself would fail with, said before the run
            plans.append(StagePlan(stage, number, "will fail", [str(exc)], 0.0, ""))
            continue
        same, wall = _previous(run_dir, config, stage)
        if same and stage not in redo and stage != "report":
            plans.append(StagePlan(stage, number, "already done", work, 0.0, "done in this run folder"))
        elif wall:
            plans.append(StagePlan(stage, number, "will run", work, wall, "previous run in this folder"))
        else:
            plans.append(StagePlan(stage, number, "will run", work, seconds, "cost model"))
    return plans


def print_plan(plans: list[StagePlan], console, name: str = "") -> None:
    """The plan as a table: stage, status, what it does, estimate, and the total."""
    from rich.markup import escape
    from rich.table import Table

    from tunewise.progress import clock

    table = Table(title=f"plan{f' of {name}' if name else ''} (dry run: nothing is loaded or run)")
    for column in ("stage", "status", "what it will do", "estimate", "from"):
        table.add_column(column)
    for plan in plans:
        table.add_row(f"{plan.number}/{len(plans)} {plan.stage}", plan.status, escape("\n".join(plan.work)),
                      clock(plan.estimate_s) if plan.status == "will run" else "",
                      plan.source)
    console.print(table)
    total = sum(p.estimate_s for p in plans)
    console.print(f"estimated total {clock(total)} ({total / 60:.1f} min) on this machine's cost model")
