"""`tunewise models` and `tunewise chat` through the real CLI."""

import pytest
from typer.testing import CliRunner

from tunewise.cli import app


def test_models_lists_packaged_models_and_cache():
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0
    assert "packaged:qwen2.5-coder-0.5b-instruct" in result.output
    assert "packaged:smollm2-135m-instruct" in result.output


@pytest.mark.slow
def test_chat_answers_with_the_packaged_small_model(smollm_backend):
    # smollm_backend ensures the cache exists, so this measures the cached path the user sees.
    result = CliRunner().invoke(app, ["chat", "packaged:smollm2-135m-instruct", "What is the capital of France?",
                                      "--temperature", "0", "--max-tokens", "16"])
    assert result.exit_code == 0, result.output
    assert "Paris" in result.output


def test_chat_with_a_bad_reference_is_one_clear_error():
    from tunewise.cli import main
    import sys

    argv = sys.argv
    sys.argv = ["tunewise", "chat", "qwen", "hi"]
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        sys.argv = argv
    assert info.value.code == 2
