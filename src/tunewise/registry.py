"""One registry mechanism for every pluggable name: judges, backends, metrics, tasks, datasets,
probe sets and traits.

Why one: before, each kind had its own way (a decorator, ``register`` + a list, a module-name
rule, a tuple, a folder scan), and several lists of names were typed again elsewhere (the gate's
out-of-domain sources). Now a kind is a ``Registry`` and every list of names is ``.names()``.

A built-in entry registers itself where it is defined (``@JUDGES.register("local")``); entries
backed by shipped files (probe-set and trait YAMLs) are registered by the module that owns the
folder. ``lazy`` modules are imported on the first lookup, so ``tunewise --help`` stays fast and a
kind's built-ins are always present when asked for.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

from tunewise.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` is the user's word: "judge", "probe set", ...)."""

    def __init__(self, kind: str, lazy: tuple[str, ...] = ()):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy = list(lazy)

    def _load(self) -> None:
        while self._lazy:
            importlib.import_module(self._lazy.pop(0))

    def register(self, name: str, entry: T | None = None) -> Any:
        """``register(name, entry)``, or ``@register(name)`` as a decorator."""
        if entry is not None:
            self._entries[name] = entry
            return entry

        def decorator(value: T) -> T:
            self._entries[name] = value
            return value
        return decorator

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        self._load()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry, or a ConfigError naming the known names and the closest one."""
        self._load()
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self._entries) or 'none'})")
        return self._entries[name]


# The kinds tunewise has. Each lazy module registers its built-ins when imported.
JUDGES: Registry[Callable] = Registry("judge", lazy=("tunewise.audit.judges.local", "tunewise.audit.judges.cross_encoder",
                                                     "tunewise.audit.judges.llm"))
BACKENDS: Registry[Callable] = Registry("backend", lazy=("tunewise.models.registry", "tunewise.models.openai_backend",
                                                         "tunewise.models.vllm_backend"))
METRICS: Registry[Callable] = Registry("metric", lazy=("tunewise.assess.metrics",))
TASKS: Registry[Any] = Registry("assess task", lazy=("tunewise.data.tasks",))
DATASETS: Registry[Any] = Registry("narrow dataset", lazy=("tunewise.data.tasks.narrow",))
PROBE_SETS: Registry[Any] = Registry("probe set", lazy=("tunewise.data.probes",))
TRAITS: Registry[Any] = Registry("trait", lazy=("tunewise.persona.traits",))

__all__ = ["Registry", "JUDGES", "BACKENDS", "METRICS", "TASKS", "DATASETS", "PROBE_SETS", "TRAITS"]
