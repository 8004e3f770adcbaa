"""Trait definitions: what a persona vector is extracted from.

A trait is a YAML file (see ``traits/*.yaml``): a description, contrastive system-prompt pairs
(one prompt expresses the trait, its partner suppresses it) and two disjoint sets of neutral
questions: ``extraction_questions`` build the vector, ``evaluation_questions`` are held out to
choose the layer and to measure drift. The shape follows Chen et al. (arXiv 2507.21509): 5 pairs,
20 + 20 questions. Built-in traits are referred to by name; any other file by its path. Trait
files of the persona-vectors repository (JSON: ``instruction`` pairs, ``questions``,
``eval_prompt``) are read as they are (``tunewise.persona.trait_json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from tunewise.registry import TRAITS
from tunewise.errors import ConfigError

TRAITS_DIR = Path(__file__).parent / "traits"

MIN_PAIRS = 1  # the built-in traits ship 5; users may start with fewer
MIN_QUESTIONS = 2  # two per set is the least that gives a spread for effect sizes


class PromptPair(BaseModel):
    """One contrast: a system prompt that expresses the trait and one that suppresses it."""

    express: str = Field(min_length=1)
    suppress: str = Field(min_length=1)


class _TraitFile(BaseModel):
    """The YAML schema; field names are what a user writes."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1)
    version: int = 1
    description: str = Field(min_length=1)
    pairs: list[PromptPair] = Field(min_length=MIN_PAIRS)
    extraction_questions: list[str] = Field(min_length=MIN_QUESTIONS)
    evaluation_questions: list[str] = Field(min_length=MIN_QUESTIONS)
    eval_prompt: str | None = None  # a trait judge's rubric ({question}, {answer}), as persona-vectors files carry

    @field_validator("extraction_questions", "evaluation_questions")
    @classmethod
    def _no_blank(cls, questions: list[str]) -> list[str]:
        blank = [i for i, q in enumerate(questions) if not q.strip()]
        if blank:
            raise ValueError(f"question {blank[0]} is empty")
        return questions


@dataclass(frozen=True)
class Trait:
    """A validated trait definition (see the module docstring for what each field is for)."""

    name: str
    version: int
    description: str
    pairs: tuple[PromptPair, ...]
    extraction_questions: tuple[str, ...]
    evaluation_questions: tuple[str, ...]
    source: str
    eval_prompt: str | None = None


for _path in sorted(TRAITS_DIR.glob("*.yaml")):  # the shipped traits register themselves
    TRAITS.register(_path.stem, _path)


def builtin_traits() -> list[str]:
    """Names of the registered traits (the shipped ones and any a plugin registered)."""
    return TRAITS.names()


def load_trait(name_or_path: str | Path) -> Trait:
    """Load a built-in trait by name (``evil``) or any trait YAML by path.

    Raises ``ConfigError`` naming the file and every invalid field, or the built-in names when
    the trait is unknown."""
    path = Path(name_or_path)
    if not path.suffix:
        path = TRAITS.get(str(name_or_path)) if str(name_or_path) in TRAITS else TRAITS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown trait {name_or_path!r}; built-in traits: {', '.join(builtin_traits())}, "
                              "or give the path of a trait YAML file")
    from tunewise.config import read_text_file

    text = read_text_file(path, "trait file")
    if path.suffix == ".json":  # a trait file of the persona-vectors repository
        from tunewise.persona.trait_json import parse_persona_vectors_trait

        raw = parse_persona_vectors_trait(path, text)
    else:
        from tunewise.config import parse_yaml

        raw = parse_yaml(text, str(path)).data  # safe, bounded, duplicate keys refused
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a trait file must be a mapping with name, description, pairs, "
                          "extraction_questions, evaluation_questions")
    try:
        parsed = _TraitFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    overlap = set(parsed.extraction_questions) & set(parsed.evaluation_questions)
    if overlap:
        raise ConfigError(f"{path}: evaluation_questions must be held out, but {len(overlap)} also appear in "
                          f"extraction_questions (e.g. {sorted(overlap)[0]!r})")
    return Trait(name=parsed.name, version=parsed.version, description=parsed.description,
                 pairs=tuple(parsed.pairs), extraction_questions=tuple(parsed.extraction_questions),
                 evaluation_questions=tuple(parsed.evaluation_questions), source=str(path),
                 eval_prompt=parsed.eval_prompt)


def contrast_chats(trait: Trait, questions: list[str] | tuple[str, ...],
                   pairs: int | None) -> list[tuple[str, list[dict]]]:
    """``(side, chat)`` for every pair x question x side, side being ``express`` or ``suppress``
    (here, beside the traits, so planning a run counts them without importing torch)."""
    chats = []
    for pair in trait.pairs[:pairs]:
        for question in questions:
            for side, system in (("express", pair.express), ("suppress", pair.suppress)):
                chats.append((side, [{"role": "system", "content": system}, {"role": "user", "content": question}]))
    return chats
