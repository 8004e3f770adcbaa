"""Data screening before training: which examples would push the model along a trait?

For each example, the projection difference (Chen et al.'s ΔP): mean activation over the
example's assistant answer minus mean activation over the base model's *own* answer to the same
prompt, projected on the trait direction. Subtracting the model's own answer removes what the
prompt alone explains (a question about weapons reads "darker" whatever the answer), leaving
how much the training target departs from what the model would have said. Examples whose score
is an outlier (robust z-score >= ``PersonaConfig.flag_z`` against the dataset's median and MAD)
are flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tunewise.data.chat import ChatExample
from tunewise.models.types import SamplingParams
from tunewise.persona._sampling import sample_answers
from tunewise.persona.config import PersonaConfig
from tunewise.persona.vectors import TraitVector, mean_answer_activations, project
from tunewise.runs.store import RunStore

STAGE = "persona.screen"


@dataclass
class ScreenResult:
    """One example on one trait; the payload of a ``persona.screen`` record."""

    trait: str
    index: int
    score: float
    flagged: bool
    z: float
    example_projection: float
    base_projection: float
    source: str
    line: int

    def to_dict(self) -> dict:
        return asdict(self)


def robust_z(scores: np.ndarray) -> np.ndarray:
    """(score - median) / (1.4826 * MAD): an outlier score that a few planted examples cannot
    inflate the way they inflate a mean and standard deviation."""
    scores = np.asarray(scores, dtype=np.float64)
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    if mad == 0:
        mad = scores.std() or 1.0
    return (scores - median) / mad


def _completed(example: ChatExample, answer: str) -> list[dict]:
    return example.prompt_messages + [{"role": "assistant", "content": answer}]


def screen_examples(backend, examples: list[ChatExample], vectors: list[TraitVector],
                    store: RunStore | None = None, config: PersonaConfig | None = None,
                    base_answers: list[str] | None = None) -> dict[str, list[ScreenResult]]:
    """Score every example on every trait; results per trait in dataset order (sort by ``score``
    to rank). The base model's answers are sampled greedily (``config.screen_max_tokens`` each)
    and cached in the store; pass ``base_answers`` to reuse answers you already have. Flags use
    ``config.flag_z``."""
    config = config or PersonaConfig()
    usable = [i for i, e in enumerate(examples) if e.answer.strip() and e.prompt_messages]
    if len(usable) < len(examples):
        skipped = sorted(set(range(len(examples))) - set(usable))
        raise ValueError(f"examples {skipped[:5]} have no prompt or an empty assistant answer; screening needs both")
    if base_answers is None:
        params = SamplingParams(n=1, temperature=0.0, max_tokens=config.screen_max_tokens)
        sampled = sample_answers(backend, [e.prompt_messages for e in examples], params, store=store, stage=STAGE,
                                 description="persona screen: base answers")
        base_answers = [answers[0] for answers in sampled]
    if len(base_answers) != len(examples):
        raise ValueError(f"{len(base_answers)} base answers for {len(examples)} examples")
    layers = sorted({v.layer for v in vectors})
    example_acts = mean_answer_activations(backend, [_completed(e, e.answer) for e in examples], layers)
    # An empty base answer (EOS first) has no tokens to average; an answer of one space stands in.
    base_acts = mean_answer_activations(backend, [_completed(e, a if a.strip() else " ") for e, a in
                                                  zip(examples, base_answers)], layers)
    results: dict[str, list[ScreenResult]] = {}
    for vector in vectors:
        column = layers.index(vector.layer)
        ours = project(example_acts[:, column], vector.vector).numpy()
        theirs = project(base_acts[:, column], vector.vector).numpy()
        scores = ours - theirs
        z = robust_z(scores)
        results[vector.trait] = [
            ScreenResult(trait=vector.trait, index=i, score=float(scores[i]), flagged=bool(z[i] >= config.flag_z),
                         z=float(z[i]), example_projection=float(ours[i]), base_projection=float(theirs[i]),
                         source=examples[i].source, line=examples[i].line)
            for i in range(len(examples))]
        if store is not None:
            for result in results[vector.trait]:
                store.put_record("persona.screen", f"{vector.trait}|{result.source}|{result.index}", result.to_dict())
    return results


def dataset_score(results: list[ScreenResult]) -> float:
    """Mean projection difference over a dataset: Chen et al. rank whole datasets by it."""
    return float(np.mean([r.score for r in results])) if results else float("nan")

