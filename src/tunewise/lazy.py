"""Package exports that load on first use.

Why: ``tunewise --help`` and ``import tunewise`` must not import torch, transformers or FastAPI,
yet every package should offer its whole API from one import (``from tunewise.gate import
run_gate``). Each package lists ``{module: names}`` and gets ``__getattr__``/``__dir__`` from here
instead of writing the same two functions again.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]],
                 namespace: dict[str, Any]) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """(``__all__``, ``__getattr__``, ``__dir__``) for ``package``; ``exports`` maps a module
    (absolute, or relative to the package when it starts with '.') to the names it provides."""
    where = {name: (module if not module.startswith(".") else package + module)
             for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return list(where), __getattr__, __dir__
