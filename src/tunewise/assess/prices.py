"""Cost per 1,000 queries from a user-editable price table (``prices.yaml``).

The shipped table holds example prices only (it says so at the top); the point of the
computation is the comparison it enables: the same token counts priced with and without
cached-input prices, and prompting strategies against a fine-tuned model's shorter prompts.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

from tunewise.errors import ConfigError

DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class Price:
    """Dollars per ``per_tokens`` tokens."""

    input: float
    cached_input: float
    output: float
    per_tokens: int = 1_000_000


def _price(entry: dict, where: str, per_tokens: int) -> Price:
    try:
        return Price(float(entry["input"]), float(entry.get("cached_input", entry["input"])),
                     float(entry["output"]), per_tokens)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: needs numeric input, output (and optional cached_input) prices ({exc})") from None


def load_prices(path: str | Path | None = None) -> dict:
    """Parse a price table; errors name the file and entry."""
    path = Path(path) if path else DEFAULT_PRICES
    try:
        table = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: price table not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(table, dict) or "default" not in table:
        raise ConfigError(f"{path}: needs a 'default' entry (and optionally 'models': a list of patterns)")
    per_tokens = int(table.get("per_tokens", 1_000_000))
    models = []
    for index, entry in enumerate(table.get("models") or []):
        if not isinstance(entry, dict) or "pattern" not in entry:
            raise ConfigError(f"{path}: models[{index}]: needs a 'pattern'")
        models.append((str(entry["pattern"]), _price(entry, f"{path}: models[{index}]", per_tokens)))
    return {"source": str(path), "models": models, "default": _price(table["default"], f"{path}: default", per_tokens),
            "as_of": table.get("as_of")}


def price_for(model: str, table: dict) -> Price:
    """The first entry whose pattern matches ``model`` (adapter suffix ignored), else default."""
    base = model.split("+lora:", 1)[0]
    for pattern, price in table["models"]:
        if fnmatch.fnmatchcase(base, pattern):
            return price
    return table["default"]


def cost_per_1k(price: Price, prompt_tokens: float, cached_tokens: float, generated_tokens: float,
                use_cache: bool) -> float:
    """Dollars for 1,000 queries given mean tokens per query. With ``use_cache`` the
    ``cached_tokens`` of each prompt are billed at the cached-input price."""
    cached = cached_tokens if use_cache else 0.0
    per_query = ((prompt_tokens - cached) * price.input + cached * price.cached_input
                 + generated_tokens * price.output) / price.per_tokens
    return 1000.0 * per_query
