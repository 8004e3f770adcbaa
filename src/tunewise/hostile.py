"""Hostile inputs for every loader of user files, and the check that each is answered cleanly.

One place lists what a careless or hostile user hands tunewise (issue 19's 130 files, in kind):
broken encodings, lone surrogates, NUL and escape characters, direction overrides, deep nesting,
5,000-digit numbers, NaN/Infinity, YAML alias bombs, ``!!python`` tags, duplicate keys, wrong
types and plain garbage. ``LOADERS`` names every loader with how to call it on a file;
``check_loader`` runs one input and says whether it was handled (loaded, or a TunewiseError that
names the file) or escaped (any other exception: a traceback for the user). The reliability test
(tests/test_reliability.py) drives these with hypothesis; scripts/reliability_counts.py prints
the counts per loader.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tunewise.errors import TunewiseError

FRAGMENTS: list[str] = [
    "\ud800", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\t", "\r\n", "'", '"', "{", "}", "[", "]", ":", "- ", "&a ",
    "*a", "!!python/object/apply:os.system ['echo pwned']", "!!binary aGk=", "9" * 5000, "1e23", "NaN",
    "Infinity", "-Infinity", "true", "null", "~", "\"100\"", "[" * 200 + "]" * 200, "{" * 150,
    "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
    "samples: 3\nsamples: 5000\n", "name: ../../outside\n", "probes: []\n", "name: x\nprobes:\n  - {id: a}\n",
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}',
    '{"input": "a", "output": "b"}', '{"instruction": [{"pos": "x", "neg": "y"}], "questions": ["q"]}',
    "- id: q\n  paraphrases: [x]\n", "name: x\naudit:\n  samples: zero\n", "é", "日本語",
]


def hostile_text(rng: random.Random, pieces: int = 4) -> str:
    """A random concatenation of fragments and random characters (deterministic per seed)."""
    parts = []
    for _ in range(pieces):
        if rng.random() < 0.7:
            parts.append(rng.choice(FRAGMENTS))
        else:
            parts.append("".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 12))))
        parts.append(rng.choice(["", "\n", " ", "\n  "]))
    return "".join(parts)


def write_file(path: Path, text: str, latin1: bool = False) -> Path:
    """Write ``text`` as UTF-8 (surrogates kept as bytes, like a broken editor) or as Latin-1."""
    data = text.encode("latin-1", errors="replace") if latin1 else text.encode("utf-8", errors="surrogatepass")
    path.write_bytes(data)
    return path


def _experiment(path: Path):
    from tunewise.pipeline.config import load_experiment
    return load_experiment(path)


def _probe_set(path: Path):
    from tunewise.data.probes import load_probe_set
    return load_probe_set(path)


def _trait(path: Path):
    from tunewise.persona.traits import load_trait
    return load_trait(path)


def _chat(path: Path):
    from tunewise.data.chat import load_chat_jsonl
    return load_chat_jsonl(path)


def _assess_task(path: Path):
    from tunewise.assess.task import load_task
    return load_task(str(path))


def _gate_data(path: Path):
    from tunewise.gate.sources import file_texts
    return file_texts(path)


def _config_file(path: Path):
    from tunewise.audit.config import AuditConfig
    from tunewise.config import load_config
    return load_config(AuditConfig, path)


#: loader name -> (file suffix, how to load a file)
LOADERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "experiment yaml": (".yaml", _experiment), "probe set yaml": (".yaml", _probe_set),
    "trait yaml": (".yaml", _trait), "trait json": (".json", _trait), "chat jsonl": (".jsonl", _chat),
    "assess task jsonl": (".jsonl", _assess_task), "gate data txt": (".txt", _gate_data),
    "gate data jsonl": (".jsonl", _gate_data), "--config yaml": (".yaml", _config_file),
}


@dataclass
class Outcome:
    handled: bool  # loaded, or a TunewiseError naming the file
    detail: str
    seconds: float


def check_loader(name: str, folder: Path, text: str, latin1: bool = False) -> Outcome:
    """Run loader ``name`` on a file holding ``text``; an escaped exception is not handled, and
    neither is an error that does not name the file."""
    suffix, load = LOADERS[name]
    path = write_file(folder / f"input{suffix}", text, latin1=latin1)
    started = time.perf_counter()
    try:
        load(path)
    except TunewiseError as exc:
        message = str(exc)
        return Outcome(str(path) in message or path.name in message, message.splitlines()[0][:200],
                       time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - this is what the check is for
        return Outcome(False, f"{type(exc).__name__}: {str(exc)[:200]}", time.perf_counter() - started)
    return Outcome(True, "loaded", time.perf_counter() - started)
