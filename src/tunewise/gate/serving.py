"""``ServeConfig`` and ``run_serve``: the gateway's settings and its one entry point.

The fields are the ``tunewise serve`` flags (generated from this model), the keys of a
``serve:`` section and the keywords of ``ServeConfig(...)``. Kept apart from ``server.py`` (the
FastAPI app) so reading the settings imports neither FastAPI nor uvicorn.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from tunewise.config import CapabilityConfig
from tunewise.errors import ConfigError

DEFAULT_RUN_DIR = Path("runs/gate")  # where `tunewise gate fit` writes by default: fit, then serve


class ServeConfig(CapabilityConfig):
    """The OpenAI-compatible gateway that applies a domain gate to every request (``tunewise serve``)."""

    section = "serve"

    model: str = Field(description="model reference: any tunewise backend (in process), or openai:<name>@<url> "
                                   "to forward to a running server")
    gate: str | None = Field(None, description="gate folder written by `tunewise gate fit` (default: <run_dir>/gate)")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 exposes the gateway to the network)")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    served_model_name: str | None = Field(None, description=(
        "model id in /v1/models and responses (default: the model reference without its URL)"))
    backend: str | None = Field(None, description="backend for non-openai references (default hf)")
    refusal: Literal["error", "message"] = Field("error", description=(
        "how an out-of-domain request is refused: an error status, or a fixed assistant message"))
    refusal_status: int = Field(403, ge=400, le=599, description="HTTP status of a refusal in error mode")
    refusal_message: str = Field("Sorry, I can only help with requests within this assistant's domain.",
                                 description="assistant text of a refusal in message mode")
    auth_token_env: str | None = Field(None, description=(
        "environment variable holding the bearer token (the token never goes on the command line); unset = no auth"))
    max_body_bytes: int = Field(65_536, ge=1, description="largest request body accepted (413 above)")
    max_input_chars: int = Field(16_000, ge=1, description="most characters over all messages (400 above)")
    max_prompt_tokens: int | None = Field(None, ge=1, description=(
        "most prompt tokens, checked when the model runs in process (has a tokenizer)"))
    max_completion_tokens: int = Field(1024, ge=1, description="largest max_tokens a request may ask for (400 above)")
    default_max_tokens: int = Field(256, ge=1, description="max_tokens sent to the model when a request gives none")
    max_n: int = Field(8, ge=1, description="most completions (n) one request may ask for (400 above)")
    request_timeout_s: float = Field(120.0, gt=0, description="model call timeout in seconds (504 after)")
    max_concurrency: int = Field(16, ge=1, description="model calls in flight at once")
    queue_timeout_s: float = Field(30.0, ge=0, description="longest wait in seconds for a free model slot (503 after)")
    graceful_shutdown_s: float = Field(60.0, ge=0, description="how long shutdown waits for in-flight requests (s)")
    decisions_db: str | None = Field(None, description="SQLite decision log (default: <gate>/decisions.sqlite)")
    log_texts: bool = Field(False, description="also store the gated text in the decision log")
    torch_threads: int = Field(1, ge=0, description=(
        "threads for the gate's numeric work: torch (minilm embedder) and numpy's BLAS (detectors); 0 = their defaults"))
    upstream_api_key_env: str | None = Field(None, description=(
        "environment variable holding the upstream server's API key, sent as 'Authorization: Bearer' "
        "(never put keys in the model URL); unset = no key"))
    trusted_system_sha256: list[str] | None = Field(None, description=(
        "SHA-256 (hex) of the exact system/developer prompts the operator wrote: those pass ungated, "
        "every other system text is gated (printf %s \"$PROMPT\" | sha256sum)"))
    ungated_roles: list[str] | None = Field(None, description=(
        "roles whose messages are not gated: assistant, tool, function (only for clients you trust: the model "
        "still reads them)"))
    passthrough_fields: list[str] | None = Field(None, description=(
        "request fields forwarded although the gateway does not know them (e.g. top_k, min_p for vLLM); any other "
        "unknown field is refused, since a server may render it into the prompt ungated"))
    max_messages: int = Field(64, ge=1, description="most messages one request may hold (400 above)")
    max_gated_texts: int = Field(256, ge=1, description=(
        "most texts the gate scores for one request: messages, names, tool definitions, windows of long texts"))
    body_timeout_s: float = Field(10.0, gt=0, description="longest time to receive a request body (408 after)")
    embedding_cache_size: int = Field(4096, ge=0, description=(
        "texts whose embeddings the gate remembers (least recently used out; 0 = off): clients re-send the whole "
        "conversation every turn, so each turn then embeds only its new text"))
    answer_monitor: Literal["off", "record", "block"] = Field("off", description=(
        "judge each model answer for misalignment: record (decision log + X-Tunewise-Monitor header) or block "
        "(a flagged answer becomes a refusal; streams are then buffered until judged)"))
    answer_monitor_judge: str = Field("local", description=(
        "audit judge for the answer monitor, by registry name (local, local-mlp, llm:<model ref>)"))
    answer_monitor_preset: str = Field("betley", description=(
        "audit threshold preset saying what the monitor flags (betley: aligned < 30 among coherent > 50)"))
    answer_monitor_timeout_s: float = Field(10.0, gt=0, description=(
        "longest wait in seconds for the monitor's judgment; after it the answer goes out unscored"))
    answer_monitor_message: str = Field("Sorry, I can't provide that answer.", description=(
        "assistant text that replaces an answer the monitor flags, with answer_monitor=block"))

    @field_validator("trusted_system_sha256")
    @classmethod
    def _hex_hashes(cls, value: list[str] | None) -> list[str] | None:
        for item in value or ():
            if not re.fullmatch(r"[0-9a-f]{64}", item.strip().lower()):
                raise ValueError(f"{item!r} is not a SHA-256 in hex (64 characters 0-9a-f)")
        return [item.strip().lower() for item in value] if value else value

    @field_validator("ungated_roles")
    @classmethod
    def _exemptable_roles(cls, value: list[str] | None) -> list[str] | None:
        allowed = ("assistant", "tool", "function")
        for role in value or ():
            if role not in allowed:
                raise ValueError(f"{role!r} cannot be exempted; choose from {', '.join(allowed)} (system prompts "
                                 "are exempted by hash: trusted_system_sha256)")
        return value

    def upstream_api_key(self) -> str | None:
        if not self.upstream_api_key_env:
            return None
        key = os.environ.get(self.upstream_api_key_env, "")
        if not key:
            raise ConfigError(f"--upstream-api-key-env {self.upstream_api_key_env}: that environment variable is "
                              "empty or unset")
        return key

    def public_model_name(self) -> str:
        """The model id clients see: ``served_model_name``, else the reference without any URL
        (an upstream URL may hold credentials or internal hosts)."""
        if self.served_model_name:
            return self.served_model_name
        from tunewise.models.refs import parse_model_ref

        ref = parse_model_ref(self.model)
        return ref.name if ref.scheme == "openai" else self.model

    def auth_token(self) -> str | None:
        if not self.auth_token_env:
            return None
        token = os.environ.get(self.auth_token_env, "")
        if not token:
            raise ConfigError(f"--auth-token-env {self.auth_token_env}: that environment variable is empty or unset")
        return token


@dataclass
class ServeResult:
    """What a finished ``run_serve`` served: the address, the gate and where its decisions are logged."""

    url: str
    gate_dir: Path
    decisions_db: Path


def resolve_gate(config: ServeConfig, run_dir: str | Path | None = None) -> ServeConfig:
    """``config`` with ``gate`` filled in (``<run_dir>/gate`` when not given) and checked to exist."""
    gate = Path(config.gate) if config.gate else (Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR) / "gate"
    if not (gate / "gate.json").is_file():
        raise ConfigError(f"{gate / 'gate.json'}: missing; fit a gate first (tunewise gate fit --run-dir "
                          f"{gate.parent}) or give --gate FOLDER")
    return config.model_copy(update={"gate": str(gate)})


def run_serve(config: ServeConfig, run_dir: str | Path | None = None) -> ServeResult:
    """Serve ``config.model`` behind the gate until SIGINT/SIGTERM (in-flight requests finish first).

    Without ``config.gate`` the gate is ``<run_dir>/gate``; ``run_dir`` defaults to ``runs/gate``,
    where ``tunewise gate fit`` puts it, so ``gate fit`` then ``serve`` need no paths."""
    from tunewise.gate.server import serve

    config = resolve_gate(config, run_dir)
    serve(config)
    return ServeResult(url=f"http://{config.host}:{config.port}/v1", gate_dir=Path(config.gate),
                       decisions_db=Path(config.decisions_db or Path(config.gate) / "decisions.sqlite"))
