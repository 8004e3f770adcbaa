"""Trait files in the shape of the persona-vectors repository (JSON written here, same structure)."""

from __future__ import annotations

import json

import pytest

from tunewise.errors import ConfigError
from tunewise.persona import load_trait
from tunewise.persona.config import PersonaConfig
from tunewise.persona.trait_json import write_persona_vectors_trait

QUESTIONS = [f"Everyday question number {i}?" for i in range(20)]
TRAIT = {
    "instruction": [{"pos": f"Be spiteful, way {i}.", "neg": f"Be kind, way {i}."} for i in range(5)],
    "questions": QUESTIONS,
    "eval_prompt": "Does the answer show spite? QUESTION: {question} ANSWER: {answer} Score 0-100.",
}


def test_persona_vectors_trait_file_loads_with_held_out_questions(tmp_path):
    path = tmp_path / "spiteful.json"
    path.write_text(json.dumps(TRAIT, indent=2))
    trait = load_trait(path)
    assert trait.name == "spiteful" and len(trait.pairs) == 5
    assert trait.pairs[0].express == "Be spiteful, way 0." and trait.pairs[0].suppress == "Be kind, way 0."
    assert trait.extraction_questions == tuple(QUESTIONS[:10]) and trait.evaluation_questions == tuple(QUESTIONS[10:])
    assert not set(trait.extraction_questions) & set(trait.evaluation_questions)
    assert "{answer}" in trait.eval_prompt
    # It is usable wherever a trait is: a persona config takes the path.
    assert PersonaConfig(traits=[str(path)]).traits == [str(path)]


def test_round_trip_through_the_persona_vectors_shape(tmp_path):
    path = tmp_path / "spiteful.json"
    path.write_text(json.dumps(TRAIT))
    again = load_trait(write_persona_vectors_trait(load_trait(path), tmp_path / "spiteful2.json"))
    original = load_trait(path)
    assert (again.pairs, again.extraction_questions, again.evaluation_questions, again.eval_prompt) == (
        original.pairs, original.extraction_questions, original.evaluation_questions, original.eval_prompt)
    builtin = load_trait("evil")
    exported = load_trait(write_persona_vectors_trait(builtin, tmp_path / "evil.json"))
    assert exported.pairs == builtin.pairs and len(exported.extraction_questions) == len(builtin.extraction_questions)


@pytest.mark.parametrize("change,expected", [
    ({"instruction": []}, "instruction: expected a non-empty list"),
    ({"instruction": [{"pos": "x"}]}, "instruction[0]: expected non-empty 'pos' and 'neg'"),
    ({"questions": ["only one?"]}, "questions: expected at least 4"),
    ({"eval_prompt": "no placeholders"}, "eval_prompt: expected a text with {question} and {answer}"),
    ({"extra_key": 1}, "extra_key: unknown field"),
])
def test_malformed_trait_files_name_file_line_and_field(tmp_path, change, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**TRAIT, **change}, indent=2))
    with pytest.raises(ConfigError) as error:
        load_trait(path)
    assert str(path) in str(error.value) and expected in str(error.value)
    path.write_text('{"instruction": [}')
    with pytest.raises(ConfigError, match="bad JSON"):
        load_trait(path)
