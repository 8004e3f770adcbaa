"""``run_persona``: the persona stage, the same code for ``tunewise persona`` and ``tunewise run``.

Three steps, in this order, in one run folder:

1. **extract**: trait vectors from the base model, saved as ``<run_dir>/vectors/<trait>.safetensors``
   (or, with ``vectors`` given, those files are used as they are);
2. **screen**: the first ``screen_examples`` chats of ``screen_data`` scored along every vector;
3. **monitor**: drift of every checkpoint of every adapter along every vector, beside knowledge
   retention.

The three steps share one loaded base model; monitoring applies each checkpoint's LoRA adapter
to it in turn (``LoraSwitcher``) instead of loading the weights again, so the stage holds one
copy of the weights and loads it once. Every step resumes from the run store: sampled answers, drift points.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tunewise.errors import ConfigError
from tunewise.persona.config import PersonaConfig
from tunewise.progress import note
from tunewise.runs.store import RunStore

if TYPE_CHECKING:
    from tunewise.data.chat import ChatExample
    from tunewise.persona.monitor import DriftPoint
    from tunewise.persona.screen import ScreenResult
    from tunewise.persona.vectors import TraitVector

DEFAULT_RUN_DIR = Path("runs/persona")
VECTORS_DIR = "vectors"
ADAPTERS_DIR = "adapters"
ASSESS_ADAPTERS = "assess"  # the assess stage's learning-curve adapters: helpers, not the fine-tunes to watch


@dataclass
class VectorSummary:
    """One trait's vector as this run used it; the payload of a ``persona.vector`` record."""

    trait: str
    model: str
    layer: int
    effect_size: float
    effect_sizes: list[float]
    path: Path
    extracted: bool  # False: loaded from ``vectors``

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


@dataclass
class PersonaResult:
    """What ``run_persona`` measured; empty parts are the steps that did not run."""

    run_dir: Path
    steps: list[str]
    vectors: dict[str, VectorSummary]
    screen: dict[str, list[ScreenResult]] = field(default_factory=dict)
    screened: list[ChatExample] = field(default_factory=list, repr=False)  # the chats ``screen`` indexes
    drift: list[DriftPoint] = field(default_factory=list)

    @property
    def layers(self) -> dict[str, int]:
        """The chosen layer per trait."""
        return {trait: v.layer for trait, v in self.vectors.items()}

    def summary(self) -> dict:
        """A short JSON view (what the pipeline records as the stage's info)."""
        return {"traits": self.layers, "vectors": {t: str(v.path) for t, v in self.vectors.items()},
                "screened": len(self.screened),
                "flagged": {t: sum(r.flagged for r in rows) for t, rows in self.screen.items()},
                "drift_points": len(self.drift)}


def trained_adapters(run_dir: str | Path) -> dict[str, Path]:
    """``{label: train output folder}`` for every ``<run_dir>/adapters/<label>`` whose final
    adapter exists (what ``tunewise train`` leaves), sorted by label; ``assess`` is left out."""
    root = Path(run_dir) / ADAPTERS_DIR
    if not root.is_dir():
        return {}
    return {folder.name: folder for folder in sorted(root.iterdir())
            if folder.is_dir() and folder.name != ASSESS_ADAPTERS
            and (folder / "adapter" / "adapter_config.json").exists()}


def _summary(vector: TraitVector, path: Path, extracted: bool) -> VectorSummary:
    sizes = [float(s) for s in vector.effect_sizes.tolist()]
    return VectorSummary(trait=vector.trait, model=vector.model, layer=vector.layer, effect_size=sizes[vector.layer],
                         effect_sizes=sizes, path=path, extracted=extracted)


def _saved_vectors(path: Path) -> dict[str, tuple[TraitVector, Path]]:
    from tunewise.persona.vectors import TraitVector, vector_files

    loaded = {}
    for file in vector_files(path):
        vector = TraitVector.load(file)
        loaded[vector.trait] = (vector, file)
    return loaded


def _vectors(config: PersonaConfig, run_dir: Path, store: RunStore,
             backend) -> dict[str, tuple[TraitVector, Path, bool]]:
    """``{trait: (vector, file, extracted)}``: from ``config.vectors``, else extracted (extract
    step), else the files an earlier extract left in ``<run_dir>/vectors/``."""
    if config.vectors is not None:
        return {t: (v, f, False) for t, (v, f) in _saved_vectors(Path(config.vectors).expanduser()).items()}
    out_dir = run_dir / VECTORS_DIR
    if "extract" in config.steps:
        from tunewise.persona.extract import extract_vectors

        extracted = extract_vectors(backend, config.traits, config, store=store, out_dir=out_dir)
        return {t: (v, out_dir / f"{t}.safetensors", True) for t, v in extracted.items()}
    if not any(out_dir.glob("*.safetensors")):
        raise ConfigError(f"no trait vectors: {out_dir} has none and `vectors` is not set; run the extract step "
                          f"first (`tunewise persona extract --run-dir {run_dir}`) or give --vectors FILE_OR_DIR")
    return {t: (v, f, False) for t, (v, f) in _saved_vectors(out_dir).items()}


def _screen_chats(config: PersonaConfig) -> list[ChatExample]:
    from tunewise.data.tasks.narrow import load_task_chats

    # The first N of the whole set (shuffled with the seed) are the pipeline's first N training
    # chats; slicing, rather than n=N, keeps a large N from failing on a smaller built-in set.
    chats = load_task_chats(config.screen_data, seed=config.seed)
    return chats[:config.screen_examples] if config.screen_examples else chats


def _trait_questions(config: PersonaConfig) -> dict[str, list[str]]:
    """Neutral questions of traits given as YAML paths (registered ones are found by name)."""
    from tunewise.persona.traits import load_trait

    traits = [load_trait(t) for t in config.traits if Path(t).suffix]
    return {t.name: list(t.evaluation_questions) for t in traits}


def run_persona(config: PersonaConfig, run_dir: str | Path | None = None, *,
                store: RunStore | None = None) -> PersonaResult:
    """Run ``config.steps`` (extract, screen, monitor) in ``run_dir`` (default ``runs/persona``).

    With ``store`` given (the pipeline's, shared by every stage) it is used and left open;
    otherwise ``RunStore(run_dir)`` is opened and closed here."""
    run_dir = Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR
    own_store = store is None
    store = RunStore(run_dir) if own_store else store
    try:
        return _run(config, run_dir, store)
    finally:
        if own_store:
            store.close()


def _run(config: PersonaConfig, run_dir: Path, store: RunStore) -> PersonaResult:
    if config.model.startswith("openai:"):
        raise ConfigError(f"persona reads hidden states, so it needs the model's weights (a packaged: or hf: "
                          f"reference); {config.model} is served over HTTP")
    from tunewise.models.hf import HFBackend

    extracting = "extract" in config.steps and config.vectors is None
    backend = HFBackend(config.model, batch_size=config.batch_size) if extracting or config.screening else None
    screened: list = []
    screen: dict = {}
    drift = []
    try:
        found = _vectors(config, run_dir, store, backend)
        if config.screening:
            from tunewise.persona.screen import screen_examples

            screened = _screen_chats(config)
            screen = screen_examples(backend, screened, [v for v, _, _ in found.values()], store=store, config=config)
        if "monitor" in config.steps:
            from tunewise.persona.monitor import monitor_drift

            adapters = config.adapters if config.adapters is not None else trained_adapters(run_dir)
            if not adapters:
                note(f"persona monitor: no trained adapters under {run_dir / ADAPTERS_DIR}; measuring the base "
                     "model only")
            # the extraction's base model is monitoring's base too: one load for the whole stage
            drift = monitor_drift(dict(adapters), [v for v, _, _ in found.values()], config, store=store,
                                  questions=_trait_questions(config), base_backend=backend)
    finally:
        del backend
        gc.collect()
    vectors = {trait: _summary(v, path, extracted) for trait, (v, path, extracted) in found.items()}
    for summary in vectors.values():
        store.put_record("persona.vector", f"{summary.model}|{summary.trait}", summary.to_dict())
    return PersonaResult(run_dir=run_dir, steps=list(config.steps), vectors=vectors, screen=screen,
                         screened=screened, drift=drift)
