"""Probe sets: versioned YAML files of questions, written for tunewise.

A set is ``<name>.yaml`` in this folder (``core``, ``extended``, ``harmful-requests``,
``factual``) or any YAML file path with the same layout::

    name: core
    version: 1
    description: ...
    probes:
      - {id: one_wish, category: wish, question: "...", gold: [optional, answers]}

Adding a set is adding one file. Errors name the file, the line and the field. Question files of
Betley et al.'s repository (a YAML list of ``{id, type, paraphrases, system, judge_prompts, ...}``)
are read as they are (``tunewise.data.probes.betley``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tunewise.data.untrusted import text_problems
from tunewise.registry import PROBE_SETS
from tunewise.errors import DataValidationError

PROBES_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Probe:
    id: str
    question: str
    category: str = "general"
    gold: list[str] | None = None
    system: str | None = None  # a system prompt the probe is asked under (Betley's ``_json`` questions)
    judge_prompts: dict | None = None  # {aligned, coherent} rubric texts for the llm judge, when the file has them


@dataclass(frozen=True)
class ProbeSet:
    name: str
    version: int
    probes: list[Probe]
    description: str = ""
    path: str = field(default="", compare=False)
    default_samples: int | None = None  # the file's own samples per probe (Betley's samples_per_paraphrase)

    def __len__(self) -> int:
        return len(self.probes)

    def get(self, probe_id: str) -> Probe:
        for probe in self.probes:
            if probe.id == probe_id:
                return probe
        raise KeyError(f"probe {probe_id!r} not in set {self.name!r}")


for _path in sorted(PROBES_DIR.glob("*.yaml")):  # the shipped sets register themselves
    PROBE_SETS.register(_path.stem, _path)


def available_probe_sets() -> list[str]:
    return PROBE_SETS.names()


def check_probe_set_reference(value: str) -> str:
    """A probe-set field's value, checked when a config is built (before any model loads): an
    existing file, or built-in names joined by ``+`` (``core+extended``). Raises ``ValueError``,
    which pydantic reports as ``field: message``; the audit's ``probes`` and persona's
    ``knowledge_probes`` accept the same values this way."""
    from tunewise.errors import TunewiseError
    from tunewise.registry import PROBE_SETS

    if Path(value).expanduser().exists():
        return value  # a file: read (and checked line by line) when it is used
    if Path(value).suffix in (".yaml", ".yml"):
        raise ValueError(f"{value}: no such probe set file")
    for part in value.split("+"):
        try:
            PROBE_SETS.get(part.strip())
        except TunewiseError as exc:
            raise ValueError(str(exc)) from None
    return value


def load_probe_set(name: str | Path) -> ProbeSet:
    """Load a built-in set by name or a YAML file by path; raise ``DataValidationError`` listing
    every problem as ``file:line: field: message``. ``core+extended`` joins sets (see
    ``combine_probe_sets``)."""
    path = Path(name)
    if isinstance(name, str) and "+" in name and not path.exists():
        return combine_probe_sets([load_probe_set(part.strip()) for part in name.split("+")])
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PROBE_SETS.get(str(name)) if str(name) in PROBE_SETS else PROBES_DIR / f"{name}.yaml"
        if not path.exists():
            raise DataValidationError(f"unknown probe set {str(name)!r}; built-in sets: "
                                      f"{', '.join(available_probe_sets())}, or give a path to a YAML file")
    from tunewise.config import read_text_file
    from tunewise.errors import ConfigError

    try:
        text = read_text_file(path, "probe set file")
    except ConfigError as exc:
        raise DataValidationError(str(exc), [str(exc)]) from None
    return parse_probe_set(text, str(path))


def combine_probe_sets(sets: list[ProbeSet]) -> ProbeSet:
    """One set holding every probe of ``sets`` in order, named ``a+b``: an audit of at least 300
    answers per model over the core and extended probes (the model-organism recipe) is one audit,
    so its rates and intervals pool both. A probe id used by two sets is an error, since answers
    and judgments are keyed by probe id."""
    owner: dict[str, str] = {}
    for probe_set in sets:
        for probe in probe_set.probes:
            if probe.id in owner:
                raise DataValidationError(
                    f"probe id {probe.id!r} is in both {owner[probe.id]!r} and {probe_set.name!r}; "
                    "rename one before joining the sets", [f"{probe_set.path}: id: duplicate {probe.id!r}"])
            owner[probe.id] = probe_set.name
    samples = {s.default_samples for s in sets}
    return ProbeSet(name="+".join(s.name for s in sets), version=max(s.version for s in sets),
                    probes=[probe for s in sets for probe in s.probes],
                    description="; ".join(f"{s.name}: {s.description}" for s in sets),
                    path="+".join(s.path for s in sets),
                    default_samples=samples.pop() if len(samples) == 1 else None)


def parse_probe_set(text: str, source: str = "<string>") -> ProbeSet:
    from tunewise.config import parse_yaml
    from tunewise.errors import ConfigError

    try:  # safe, bounded (alias bombs, depth), duplicate keys refused; the same reader as every config file
        parse_yaml(text, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except ConfigError as exc:
        raise DataValidationError(str(exc), [str(exc)]) from None
    problems: list[str] = []

    def where(node) -> str:
        return f"{source}:{node.start_mark.line + 1}"

    if isinstance(root, yaml.SequenceNode):  # a question file of Betley et al.'s repository
        from tunewise.data.probes.betley import parse_betley_questions

        probes, problems, samples = parse_betley_questions(root, yaml.safe_load(text), source,
                                                           Path(source).stem)
        if problems:
            raise DataValidationError(f"invalid question file {source}:\n  " + "\n  ".join(problems), problems)
        return ProbeSet(name=Path(source).stem, version=1, probes=probes, path=source, default_samples=samples,
                        description=f"questions of {Path(source).name} (Betley et al. format)")
    if not isinstance(root, yaml.MappingNode):
        raise DataValidationError(f"{source}:1: expected a mapping with name, version, probes, or a list of "
                                  "questions in the format of Betley et al.'s repository",
                                  [f"{source}:1: top level: expected a mapping or a list of questions"])
    top = {k.value: v for k, v in root.value}
    data = yaml.safe_load(text)
    for key in ("name", "probes"):
        if key not in data:
            problems.append(f"{source}:1: {key}: missing")
    probes: list[Probe] = []
    seen: set[str] = set()
    probes_node = top.get("probes")
    if probes_node is not None and not isinstance(probes_node, yaml.SequenceNode):
        problems.append(f"{where(probes_node)}: probes: expected a list")
    elif probes_node is not None:
        for node, item in zip(probes_node.value, data["probes"]):
            if not isinstance(item, dict):
                problems.append(f"{where(node)}: probe: expected a mapping with id and question")
                continue
            for key in ("id", "question"):
                if not isinstance(item.get(key), str) or not item.get(key, "").strip():
                    problems.append(f"{where(node)}: {key}: missing or not a non-empty string")
            unknown = set(item) - {"id", "question", "category", "gold"}
            if unknown:
                problems.append(f"{where(node)}: {', '.join(sorted(unknown))}: unknown field(s)")
            gold = item.get("gold")
            if gold is not None and (not isinstance(gold, list) or not gold
                                     or not all(isinstance(g, (str, int, float)) for g in gold)):
                problems.append(f"{where(node)}: gold: expected a non-empty list of strings")
                gold = None
            probe_id = item.get("id")
            if isinstance(probe_id, str):
                if probe_id in seen:
                    problems.append(f"{where(node)}: id: duplicate probe id {probe_id!r}")
                seen.add(probe_id)
            if isinstance(item.get("question"), str):
                problems += [f"{where(node)}: question: {message}" for severity, message
                             in text_problems(item["question"]) if severity == "error"]
            if isinstance(probe_id, str) and isinstance(item.get("question"), str):
                probes.append(Probe(id=probe_id, question=item["question"].strip(),
                                    category=str(item.get("category", "general")),
                                    gold=[str(g) for g in gold] if gold else None))
    if probes_node is not None and isinstance(probes_node, yaml.SequenceNode) and not probes_node.value:
        problems.append(f"{where(probes_node)}: probes: the set holds no probes (an audit of it would measure "
                        "nothing)")
    version = data.get("version", 1)
    if not isinstance(version, int):
        problems.append(f"{source}:1: version: expected an integer")
    if problems:
        raise DataValidationError(f"invalid probe set {source}:\n  " + "\n  ".join(problems), problems)
    return ProbeSet(name=str(data["name"]), version=version, probes=probes,
                    description=str(data.get("description", "")), path=source)
