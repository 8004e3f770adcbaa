"""YAML read safely, with the line of every key kept for error messages.

Safe loading only (no ``!!python`` tags), duplicate keys are errors (with plain PyYAML the last
one silently wins: ``samples: 5`` then ``samples: 5000``), and the alias expansion is bounded so
a few hundred bytes of nested aliases (a "billion laughs" file) cannot take gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunewise.errors import ConfigError

MAX_YAML_BYTES = 4_000_000
MAX_ALIAS_NODES = 10_000  # nodes reachable through aliases; real configs use a handful
MAX_DEPTH = 64


@dataclass
class YamlDocument:
    """A parsed YAML document: its data, and the 1-based line of every key path in it."""

    data: Any
    source: str
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, path: tuple) -> int:
        """The line of ``path`` or of its closest parent that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def _check_node(node: yaml.Node, source: str, depth: int = 0, seen: set | None = None,
                counter: list | None = None) -> None:
    """Reject duplicate keys, excessive depth and alias bombs before constructing Python objects."""
    seen = set() if seen is None else seen
    counter = [0] if counter is None else counter
    counter[0] += 1
    if counter[0] > MAX_ALIAS_NODES * 10:
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: the document expands to too many nodes "
                          "(YAML aliases nested too deep?)")
    if depth > MAX_DEPTH:
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in keys:
                    raise ConfigError(f"{source}:{key.start_mark.line + 1}: {key.value}: duplicate key (first "
                                      f"given on line {keys[key.value]}); give each key once")
                keys[key.value] = key.start_mark.line + 1
            _check_node(value, source, depth + 1, seen, counter)
    elif isinstance(node, yaml.SequenceNode):
        for value in node.value:
            _check_node(value, source, depth + 1, seen, counter)


def _node_lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            lines[child] = key.start_mark.line + 1
            lines.update({k: v for k, v in _node_lines(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines.update(_node_lines(value, path + (index,)))
    return lines


def parse_yaml(text: str, source: str = "<string>") -> YamlDocument:
    """Parse YAML text safely; errors name ``source:line``."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}:1: {len(text)} bytes; config files are at most {MAX_YAML_BYTES}")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_node(node, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        lines = text.splitlines()
        shown = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
        raise ConfigError(f"{source}:{line}: not valid YAML: {problem}" + (f" (in: {shown})" if shown else "")) from None
    except RecursionError:
        raise ConfigError(f"{source}:1: nested too deep to read") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits (Python refuses to convert it)
        raise ConfigError(f"{source}:1: a value cannot be read: {str(exc).split(';')[0]}") from None
    return YamlDocument(data, source, _node_lines(node) if node is not None else {})


def read_text_file(path: str | Path, what: str = "file") -> str:
    """A user's text file as UTF-8; missing, unreadable or undecodable is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def read_yaml(path: str | Path) -> YamlDocument:
    """Read a YAML file; a missing or undecodable file is a ConfigError naming it."""
    return parse_yaml(read_text_file(path), str(path))
