"""Every loader of user files, fuzzed with hostile inputs (hypothesis): each input is either
loaded or answered with a TunewiseError that names the file - never a traceback, never a hang.
`scripts/reliability_counts.py` prints the same check as counts per loader.

The examples are derandomized so CI sees the same inputs every run (a failure is reproducible,
never a flake); new inputs are hunted with the counts script (other seeds) and, when one escapes,
added to the known cases below."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise.hostile import FRAGMENTS, LOADERS, check_loader

HOSTILE = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12), st.sampled_from(["\n", "\n  ", " "])),
                   min_size=1, max_size=6).map("".join)


@pytest.mark.parametrize("loader", list(LOADERS))
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE, latin1=st.booleans())
def test_every_loader_answers_hostile_input_cleanly(loader, text, latin1):
    with tempfile.TemporaryDirectory() as folder:
        outcome = check_loader(loader, Path(folder), text, latin1=latin1)
    assert outcome.handled, f"{loader}: {outcome.detail}"
    assert outcome.seconds < 10, f"{loader} took {outcome.seconds:.1f} s"


@pytest.mark.parametrize("loader,text,expected", [
    ("probe set yaml", "name: x\nprobes:\n  - {id: a, question: '" + "9" * 5000 + "'}\n  - {id: b, n: " + "9" * 5000 + "}\n",
     "a value cannot be read"),
    ("gate data txt", "caf\xe9 au lait\n", "not valid UTF-8"),
    ("--config yaml", "?", "keys are field names"),  # a YAML mapping with a null key
    ("assess task jsonl", '{"input": "a", "output": "b"}\n', "only 1 examples"),
    ("experiment yaml", "name: x\n" + "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6)),
     "too many nodes"),
])
def test_known_hostile_files_get_the_named_error(tmp_path, loader, text, expected):
    outcome = check_loader(loader, tmp_path, text, latin1=loader == "gate data txt")
    assert outcome.handled and expected in outcome.detail, outcome.detail
