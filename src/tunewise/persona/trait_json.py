"""Trait files in the format of the persona-vectors repository (Chen et al., arXiv 2507.21509), read
as they are::

    {"instruction": [{"pos": "<system prompt expressing the trait>", "neg": "<one suppressing it>"}, ...],
     "questions": ["...", ...],
     "eval_prompt": "... {question} ... {answer} ..."}

``instruction`` pairs become contrast pairs (pos -> express, neg -> suppress); ``questions`` (20
or 40 in that repository) are split into extraction and held-out evaluation questions the way
tunewise's own traits are (first half builds the vector, second half chooses the layer and
measures drift: disjoint, in file order); ``eval_prompt`` is kept for a trait judge. The trait's
name is the file's stem (``evil.json`` -> ``evil``), as in that repository.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunewise.errors import ConfigError


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def parse_persona_vectors_trait(path: Path, text: str) -> dict:
    """The fields of a tunewise trait (name, description, pairs, extraction/evaluation questions,
    eval_prompt) from a persona-vectors JSON file; errors are ``file:line: field: message``."""
    from tunewise.data.untrusted import UntrustedInputError, parse_json_value

    try:
        raw = parse_json_value(text)
    except UntrustedInputError as exc:
        raise ConfigError(f"{path}:1: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1: a persona-vectors trait file is a JSON object with instruction, questions "
                          "and eval_prompt")
    problems = []
    unknown = sorted(set(raw) - {"instruction", "questions", "eval_prompt"})
    if unknown:
        problems.append(f"{path}:{_line_of(text, unknown[0])}: {unknown[0]}: unknown field (expected instruction, "
                        "questions, eval_prompt)")
    pairs = raw.get("instruction")
    if not isinstance(pairs, list) or not pairs:
        problems.append(f"{path}:{_line_of(text, 'instruction')}: instruction: expected a non-empty list of "
                        "{pos, neg} pairs")
        pairs = []
    converted = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, dict) or not all(isinstance(pair.get(k), str) and pair[k].strip() for k in ("pos", "neg")):
            problems.append(f"{path}:{_line_of(text, 'instruction')}: instruction[{index}]: expected non-empty "
                            "'pos' and 'neg' strings")
            continue
        converted.append({"express": pair["pos"], "suppress": pair["neg"]})
    questions = raw.get("questions")
    if not isinstance(questions, list) or len(questions) < 4 or not all(isinstance(q, str) and q.strip()
                                                                        for q in questions):
        problems.append(f"{path}:{_line_of(text, 'questions')}: questions: expected at least 4 non-empty strings "
                        "(half build the vector, half are held out)")
        questions = []
    eval_prompt = raw.get("eval_prompt")
    if eval_prompt is not None and (not isinstance(eval_prompt, str) or "{answer}" not in eval_prompt):
        problems.append(f"{path}:{_line_of(text, 'eval_prompt')}: eval_prompt: expected a text with {{question}} "
                        "and {answer}")
        eval_prompt = None
    if problems:
        raise ConfigError(f"invalid trait file {path}:\n  " + "\n  ".join(problems))
    half = len(questions) // 2
    return {"name": path.stem, "version": 1,
            "description": f"{path.stem} (persona-vectors trait file {path.name})",
            "pairs": converted, "extraction_questions": questions[:half], "evaluation_questions": questions[half:],
            "eval_prompt": eval_prompt}


def write_persona_vectors_trait(trait, path: str | Path) -> Path:
    """A tunewise trait written back in the persona-vectors JSON shape (round trip)."""
    path = Path(path)
    path.write_text(json.dumps({
        "instruction": [{"pos": pair.express, "neg": pair.suppress} for pair in trait.pairs],
        "questions": [*trait.extraction_questions, *trait.evaluation_questions],
        **({"eval_prompt": trait.eval_prompt} if trait.eval_prompt else {})}, indent=2, ensure_ascii=False) + "\n")
    return path
