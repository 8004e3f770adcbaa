from pathlib import Path

import pytest

from tunewise.errors import ConfigError
from tunewise.persona import builtin_traits, load_trait


def test_builtin_traits_have_the_shape_the_method_needs():
    assert {"evil", "sycophantic", "deceptive", "power-seeking"} <= set(builtin_traits())
    for name in builtin_traits():
        trait = load_trait(name)
        assert trait.name == name
        assert len(trait.pairs) >= 5
        assert len(trait.extraction_questions) >= 20 and len(trait.evaluation_questions) >= 20
        assert not set(trait.extraction_questions) & set(trait.evaluation_questions)
        assert all(p.express != p.suppress for p in trait.pairs)


def test_unknown_trait_names_the_builtin_ones():
    with pytest.raises(ConfigError, match="evil"):
        load_trait("grumpy")


def test_invalid_file_names_file_and_field(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ndescription: x\npairs: []\nextraction_questions: [a, b]\nevaluation_questions: [c, d]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: pairs"):
        load_trait(path)


def test_evaluation_questions_must_be_held_out(tmp_path: Path):
    path = tmp_path / "leaky.yaml"
    path.write_text("name: leaky\ndescription: x\npairs: [{express: a, suppress: b}]\n"
                    "extraction_questions: [q1, q2]\nevaluation_questions: [q2, q3]\n")
    with pytest.raises(ConfigError, match="held out"):
        load_trait(path)
