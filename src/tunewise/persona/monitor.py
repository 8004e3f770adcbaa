"""Monitoring: how far fine-tuning moved a model along each trait vector, next to what it knows.

Drift = (mean projection of the tuned model - mean projection of the base) / standard deviation
of the base's projections, on neutral prompts (the trait's held-out evaluation questions, no
system prompt). The activation read is the last prompt token, the position where Chen et al.
found the fine-tuning shift predicts trait expression (r = 0.76-0.97); it needs no sampling,
so every checkpoint of a run costs one forward pass per prompt. Beside drift: the task loss at
that step and knowledge retention (greedy accuracy on the ``factual`` probes, from
``tunewise.audit.knowledge_retention``): the "character vs world" curve.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from tunewise.errors import ConfigError
from tunewise.persona.config import PersonaConfig
from tunewise.persona.traits import builtin_traits, load_trait
from tunewise.persona.vectors import TraitVector, project, reading_activations
from tunewise.progress import note
from tunewise.runs.store import RunStore

BASE_LABEL = "base"


@dataclass
class DriftPoint:
    """One model (or checkpoint) on one trait; the payload of a ``persona.drift`` record."""

    model_label: str
    trait: str
    step: int
    drift: float
    knowledge_accuracy: float | None
    knowledge_n: int | None
    loss: float | None
    model: str
    layer: int
    mean_projection: float
    base_mean_projection: float
    base_std_projection: float

    def to_dict(self) -> dict:
        return asdict(self)


def neutral_questions(vector: TraitVector) -> list[str]:
    """The held-out evaluation questions of the vector's trait (registered traits only)."""
    if vector.trait not in builtin_traits():
        raise ConfigError(f"trait {vector.trait!r} is not registered, so its neutral questions are unknown; list its "
                          "YAML file in traits (run_persona reads them from there) or pass "
                          "monitor_drift(questions={trait: [...]})")
    return list(load_trait(vector.trait).evaluation_questions)


def prompt_projections(backend, questions: list[str], vector: TraitVector) -> np.ndarray:
    """Projection of the last prompt-token activation of each question onto the trait direction."""
    chats = [[{"role": "user", "content": q}] for q in questions]
    with reading_activations(backend, [vector.layer]):
        states = backend.hidden_states(chats, [vector.layer], positions="last")
    activations = torch.stack([s[0, -1] for s in states])
    return project(activations, vector.vector).numpy()


def drift(base: np.ndarray, tuned: np.ndarray) -> float:
    """(tuned mean - base mean) / base standard deviation: unitless, comparable across traits."""
    base, tuned = np.asarray(base, dtype=np.float64), np.asarray(tuned, dtype=np.float64)
    spread = base.std(ddof=1)
    if not spread > 0:
        raise ValueError("the base model's projections have no spread; use more (and more varied) prompts")
    return float((tuned.mean() - base.mean()) / spread)


def _train_result(train_dir: Path) -> dict:
    from tunewise.train.loop import RESULT_FILE

    path = train_dir / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def run_losses(train_dir: str | Path, store: RunStore | None = None) -> list[tuple[int, float]]:
    """Training losses ``[(step, loss)]`` of a train output folder: from its result file, else
    from the ``train.run`` record whose adapter lives there (empty when neither exists)."""
    train_dir = Path(train_dir)
    losses = _train_result(train_dir).get("losses")
    if losses is None and store is not None:
        wanted = {str((train_dir / "adapter").resolve()), str(train_dir.resolve())}
        for record in store.records("train.run"):
            if str(Path(record.get("adapter_dir", "")).resolve()) in wanted:
                losses = record.get("losses")
    return [(int(step), float(loss)) for step, loss in losses or []]


def find_checkpoints(train_dir: str | Path, store: RunStore | None = None) -> list[tuple[int, Path]]:
    """``(step, adapter folder)`` for a train output folder, in step order: every complete
    ``checkpoints/step-N/``, then the final ``adapter/`` unless a checkpoint already holds its
    step. The final step comes from the run's result (or its losses; -1 when unknown). A folder
    that is itself an adapter is returned alone, as step -1."""
    from tunewise.train.checkpoint import list_checkpoints

    train_dir = Path(train_dir)
    if (train_dir / "adapter_config.json").exists():
        return [(-1, train_dir)]
    found = [(step, folder) for step, folder in list_checkpoints(train_dir)
             if (folder / "adapter_config.json").exists()]
    if (train_dir / "adapter" / "adapter_config.json").exists():
        final = _train_result(train_dir).get("steps") or max((s for s, _ in run_losses(train_dir, store)), default=-1)
        if final not in {step for step, _ in found}:
            found.append((int(final), train_dir / "adapter"))
    if not found:
        raise ConfigError(f"{train_dir}: no PEFT adapters found (expected adapter/ or checkpoints/step-N/ "
                          "holding adapter_config.json, as `tunewise train` writes)")
    return found


def loss_at(losses: list[tuple[int, float]], step: int) -> float | None:
    """The last logged loss at or before ``step``."""
    logged = [loss for s, loss in losses if s <= step]
    return logged[-1] if logged else None


KNOWLEDGE_BATCH = 64  # rows decoded together for knowledge retention (the 30 factual probes: one batch)


def _knowledge(backend, probe_set: str | None) -> tuple[float | None, int | None]:
    """Greedy knowledge retention on ``probe_set``, all its probes in one batch where they fit:
    at the persona default batch_size 16, the 30 factual probes took two full-length decodes
    (48 steps each) per model, and it is the same model over the same weights either way."""
    if probe_set is None:
        return None, None
    from tunewise.audit import knowledge_retention
    from tunewise.data.probes import load_probe_set

    probes = load_probe_set(probe_set)
    wide = max(backend.batch_size, min(KNOWLEDGE_BATCH, len(probes.probes)))
    if wide != backend.batch_size and hasattr(backend, "tokenizer"):
        from tunewise.models.hf import HFBackend

        backend = HFBackend.from_model(backend.model, backend.tokenizer, backend.model_ref, batch_size=wide)
    accuracy, n = knowledge_retention(backend, probe_set=probes)
    return float(accuracy), int(n)


def _knowledge_together(base_backend, refs: list[str], probe_set: str | None,
                        batch_size: int) -> dict[str, tuple[float, int]]:
    """Knowledge retention of the base and every checkpoint still to measure in shared batches
    (``models.mixed_lora``: the base weights run over all their rows at once, several times
    faster on a CPU than 30 rows per checkpoint), {ref: (accuracy, n)}; {} when they cannot share
    a batch (then each is measured on its own)."""
    from tunewise.models.mixed_lora import MixedLora, can_mix

    if probe_set is None or not refs or not can_mix(refs) or not hasattr(base_backend, "tokenizer"):
        return {}
    from tunewise.audit.retention import knowledge_chats, knowledge_params, knowledge_score
    from tunewise.data.probes import load_probe_set

    probes, chats = knowledge_chats(load_probe_set(probe_set))
    note(f"persona monitor: knowledge of {len(refs)} models in shared batches ({len(refs) * len(chats)} answers)")
    mixed = MixedLora(refs, batch_size=max(batch_size, KNOWLEDGE_BATCH), base=base_backend)
    try:
        requests = [(ref, chat) for ref in refs for chat in chats]
        completions = mixed.generate(requests, knowledge_params())
    finally:
        mixed.close()
    known = {}
    for number, ref in enumerate(refs):
        mine = [replace(c, chat_index=c.chat_index - number * len(chats)) for c in completions
                if requests[c.chat_index][0] == ref]
        known[ref] = knowledge_score(probes, mine)
    return known


def monitor_drift(runs: dict[str, str | Path], vectors: list[TraitVector], config: PersonaConfig | None = None,
                  store: RunStore | None = None, questions: list[str] | dict[str, list[str]] | None = None,
                  base_backend=None) -> list[DriftPoint]:
    """Drift of every checkpoint of every run along every vector, with loss and knowledge.

    ``runs`` maps a label (``insecure-code``) to a train output folder or an adapter folder,
    trained on ``config.model``. The base model is measured once and is step 0 of every run's
    curve (``model_label`` ``base`` when ``runs`` is empty). With a store, each point is a
    ``persona.drift`` record, and points already recorded are not measured again, so an
    interrupted monitor resumes. ``config.knowledge_probes=None`` skips knowledge retention;
    ``questions`` (one list for every trait, or a list per trait name) replaces the traits'
    neutral questions. ``base_backend`` (an ``HFBackend`` of ``config.model``, e.g. the one
    extraction used) is reused rather than loading the base again; the base is loaded once either
    way and every checkpoint's adapter is applied to it in turn (``LoraSwitcher``)."""
    from tunewise.models.hf import HFBackend, LoraSwitcher

    config = config or PersonaConfig()
    base_model, probe_set = config.model, config.knowledge_probes
    options = {"batch_size": config.batch_size}
    for vector in vectors:
        if vector.model != base_model:
            note(f"vector {vector.trait} was extracted on {vector.model}, monitoring {base_model}")
    given = questions if isinstance(questions, dict) else {v.trait: questions for v in vectors}
    prompts = {v.trait: given.get(v.trait) or neutral_questions(v) for v in vectors}

    def done(label: str, step: int) -> list[DriftPoint] | None:
        if store is None:
            return None
        rows = [store.get_record("persona.drift", f"{label}|{v.trait}|{step}") for v in vectors]
        return [DriftPoint(**row) for row in rows] if all(rows) else None

    def measure(backend, label: str, step: int, loss: float | None) -> list[DriftPoint]:
        accuracy, n = known[backend.model_ref] if backend.model_ref in known else _knowledge(backend, probe_set)
        points = []
        for vector in vectors:
            tuned = base_projections[vector.trait] if label == BASE_LABEL else \
                prompt_projections(backend, prompts[vector.trait], vector)
            base = base_projections[vector.trait]
            point = DriftPoint(model_label=label, trait=vector.trait, step=step, drift=drift(base, tuned),
                               knowledge_accuracy=accuracy, knowledge_n=n, loss=loss, model=backend.model_ref,
                               layer=vector.layer, mean_projection=float(np.mean(tuned)),
                               base_mean_projection=float(np.mean(base)), base_std_projection=float(np.std(base, ddof=1)))
            points.append(point)
        return points

    def record(points: list[DriftPoint]) -> None:
        for point in points if store is not None else []:
            store.put_record("persona.drift", f"{point.model_label}|{point.trait}|{point.step}", point.to_dict())

    if base_backend is None or base_backend.model_ref != base_model:
        base_backend = HFBackend(base_model, **options)
    base_projections = {v.trait: prompt_projections(base_backend, prompts[v.trait], v) for v in vectors}
    pending = [(label, step, adapter) for label, train_dir in runs.items()
               for step, adapter in find_checkpoints(train_dir, store) if not done(label, step)]
    refs = ([base_model] if any(done(label, 0) is None for label in runs or [BASE_LABEL]) else []) + \
        [f"{base_model}+lora:{adapter}" for _, _, adapter in pending]
    known = _knowledge_together(base_backend, refs, probe_set, config.batch_size)
    base_points = None
    results: list[DriftPoint] = []
    for label in runs or [BASE_LABEL]:
        points = done(label, 0)
        if points is None:
            base_points = base_points or measure(base_backend, BASE_LABEL, 0, None)
            points = [replace(p, model_label=label, loss=loss_at(run_losses(runs[label], store), 0) if runs else None)
                      for p in base_points]
            record(points)
        results.extend(points)
    switcher = LoraSwitcher(config.batch_size, base=base_backend)
    del base_backend
    try:
        for label, train_dir in runs.items():
            losses = run_losses(train_dir, store)
            for step, adapter in find_checkpoints(train_dir, store):
                cached = done(label, step)
                if cached:
                    results.extend(cached)
                    continue
                note(f"persona monitor: {label} step {step} ({adapter})")
                points = measure(switcher.backend(f"{base_model}+lora:{adapter}"), label, step, loss_at(losses, step))
                record(points)
                results.extend(points)
    finally:
        switcher.close()
    return results
