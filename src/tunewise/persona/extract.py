"""Extract a persona vector from contrastive system prompts (Chen et al., arXiv 2507.21509).

1. Sample answers to the trait's extraction questions under each pair's *express* prompt and
   under its *suppress* prompt.
2. Mean residual activation over the answer tokens, per layer, with the system prompt in
   context (as the answers were produced); vector = mean(express) - mean(suppress).
3. Held-out check: answers to the *evaluation* questions, re-read **without** the system prompt,
   projected on each layer's vector; Cohen's d per layer. Dropping the prompt makes the check
   ask what screening and monitoring need: does the direction read the trait from the answer
   itself, not from the instruction sitting in the context? The chosen layer is the steerable
   layer with the largest d.

Chen et al. also keep only answers a judge scores as expressing (or not) the trait; tunewise has
no per-trait judge yet, so every non-empty answer is kept and ``counts`` says how many.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tunewise.models.types import Chat, SamplingParams
from tunewise.persona._sampling import sample_answers
from tunewise.persona.config import PersonaConfig
from tunewise.persona.traits import Trait, contrast_chats, load_trait
from tunewise.persona.vectors import TraitVector, layer_effect_sizes, mean_answer_activations, steerable_layers
from tunewise.progress import note
from tunewise.runs.store import RunStore

STAGE = "persona.extract"


def _answered(sided: list[tuple[str, Chat]], answers: list[list[str]], keep_system: bool) -> dict[str, list[Chat]]:
    """Chats completed with their answers, split by side; empty answers dropped."""
    out: dict[str, list[Chat]] = {"express": [], "suppress": []}
    for (side, chat), samples in zip(sided, answers):
        prompt = chat if keep_system else [m for m in chat if m["role"] != "system"]
        for text in samples:
            if text.strip():
                out[side].append(prompt + [{"role": "assistant", "content": text}])
    return out


def _plan(trait: Trait, config: PersonaConfig) -> tuple[list[tuple[str, Chat]], list[tuple[str, Chat]]]:
    return (contrast_chats(trait, trait.extraction_questions[:config.questions], config.pairs),
            contrast_chats(trait, trait.evaluation_questions[:config.eval_questions], config.pairs))


def _params(config: PersonaConfig) -> SamplingParams:
    return SamplingParams(n=config.samples, temperature=config.temperature, max_tokens=config.max_tokens,
                          seed=config.seed)


def extract_vector(backend, trait: Trait | str, config: PersonaConfig | None = None,
                   store: RunStore | None = None) -> TraitVector:
    """Extract one trait's vector on ``backend`` (an ``HFBackend``) with the sampling budget in
    ``config`` (pairs, questions, eval_questions, samples, max_tokens, temperature, seed)."""
    trait = trait if isinstance(trait, Trait) else load_trait(trait)
    config = config or PersonaConfig()
    extraction, evaluation = _plan(trait, config)
    answers = sample_answers(backend, [c for _, c in extraction + evaluation], _params(config), store=store,
                             stage=STAGE, description=f"persona {trait.name}: sampling contrast answers")
    return _vector_from_answers(backend, trait, config, extraction, evaluation, answers)


def _vector_from_answers(backend, trait: Trait, config: PersonaConfig, extraction: list[tuple[str, Chat]],
                         evaluation: list[tuple[str, Chat]], answers: list[list[str]]) -> TraitVector:
    train = _answered(extraction, answers[:len(extraction)], keep_system=True)
    held_out = _answered(evaluation, answers[len(extraction):], keep_system=False)
    for name, groups in (("extraction", train), ("evaluation", held_out)):
        for side, chats in groups.items():
            if len(chats) < 2:
                raise ValueError(f"trait {trait.name}: only {len(chats)} non-empty {side} answers to the {name} "
                                 "questions; raise max_tokens or the number of questions")
    acts = {f"{name}.{side}": mean_answer_activations(backend, chats)
            for name, groups in (("train", train), ("eval", held_out)) for side, chats in groups.items()}
    vectors = acts["train.express"].mean(dim=0) - acts["train.suppress"].mean(dim=0)
    sizes = layer_effect_sizes(acts["eval.express"], acts["eval.suppress"], vectors)
    candidates = steerable_layers(vectors.shape[0]) or list(range(vectors.shape[0]))
    layer = max(candidates, key=lambda index: float(torch.nan_to_num(sizes[index], nan=-1e9)))
    counts = {"pairs": len(trait.pairs[:config.pairs]), "extraction_questions": len(trait.extraction_questions[:config.questions]),
              "evaluation_questions": len(trait.evaluation_questions[:config.eval_questions]),
              "samples": config.samples, "max_tokens": config.max_tokens,
              "n_express": len(train["express"]), "n_suppress": len(train["suppress"]),
              "n_eval_express": len(held_out["express"]), "n_eval_suppress": len(held_out["suppress"])}
    return TraitVector(trait=trait.name, model=backend.model_ref, layer=layer, vectors=vectors, effect_sizes=sizes,
                       counts=counts, meta={"trait_version": str(trait.version), "trait_source": Path(trait.source).name,
                                            "temperature": str(config.temperature), "seed": str(config.seed)})


def extract_vectors(backend, traits: list[Trait | str], config: PersonaConfig | None = None,
                    store: RunStore | None = None, out_dir: str | Path | None = None) -> dict[str, TraitVector]:
    """Extract several traits; save each as ``out_dir/<trait>.safetensors`` and, with a store,
    write one ``persona.layer`` record {trait, layer, effect_size, chosen, model} per layer.
    ``config`` is the run's ``PersonaConfig`` (only its sampling fields are read)."""
    config = config or PersonaConfig()
    loaded = [t if isinstance(t, Trait) else load_trait(t) for t in traits]
    plans = [_plan(t, config) for t in loaded]
    chats = [c for extraction, evaluation in plans for _, c in extraction + evaluation]
    # One sampling call for every trait: larger batches use the CPU better than one call each.
    answers = sample_answers(backend, chats, _params(config), store=store, stage=STAGE,
                             description=f"persona: sampling contrast answers for {len(loaded)} traits")
    result: dict[str, TraitVector] = {}
    offset = 0
    for trait, (extraction, evaluation) in zip(loaded, plans):
        size = len(extraction) + len(evaluation)
        vector = _vector_from_answers(backend, trait, config, extraction, evaluation, answers[offset:offset + size])
        offset += size
        result[vector.trait] = vector
        if out_dir is not None:
            path = vector.save(Path(out_dir) / f"{vector.trait}.safetensors")
            note(f"saved {path}")
        if store is not None:
            for layer, size in enumerate(vector.effect_sizes.tolist()):
                store.put_record("persona.layer", f"{vector.model}|{vector.trait}|{layer}",
                                 {"trait": vector.trait, "layer": layer, "effect_size": size,
                                  "chosen": layer == vector.layer, "model": vector.model,
                                  "norm": float(vector.vectors[layer].norm())})
    return result
