import pytest

from tunewise.errors import ModelRefError
from tunewise.models.refs import DEFAULT_MODEL, parse_model_ref


def test_packaged_default_round_trips():
    ref = parse_model_ref(DEFAULT_MODEL)
    assert (ref.scheme, ref.name, ref.lora) == ("packaged", "qwen2.5-coder-0.5b-instruct", None)
    assert str(ref) == DEFAULT_MODEL


def test_hf_path_with_lora():
    ref = parse_model_ref("hf:/models/base+lora:runs/x/adapter")
    assert ref.scheme == "hf" and ref.name == "/models/base" and ref.lora == "runs/x/adapter"
    assert str(ref.without_lora()) == "hf:/models/base"
    assert ref.without_lora().with_lora("a").lora == "a"


def test_openai_reference_splits_model_and_url():
    ref = parse_model_ref("openai:qwen-coder@http://127.0.0.1:8000/v1")
    assert ref.name == "qwen-coder" and ref.base_url == "http://127.0.0.1:8000/v1"
    assert str(ref) == "openai:qwen-coder@http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("qwen", "no known scheme"),
    ("gguf:model", "no known scheme"),
    ("hf:", "nothing after"),
    ("packaged:nope", "unknown packaged model"),
    ("openai:model", "openai:<model>@<base_url>"),
    ("openai:model@ftp://x", "http"),
    ("hf:x+lora:", "adapter folder"),
])
def test_bad_references_say_what_is_wrong(text, fragment):
    with pytest.raises(ModelRefError, match=fragment.replace("(", r"\(")):
        parse_model_ref(text)
