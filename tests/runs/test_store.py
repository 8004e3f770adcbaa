"""The run store: rows written as produced, keys that make a re-run skip done work."""

import csv
import json
import subprocess
import sys

from tunewise.models.types import Completion
from tunewise.runs.store import RunStore, make_key

CHAT = [{"role": "user", "content": "hi"}]


def _completion(i):
    return Completion(chat_index=0, sample_index=i, text=f"answer {i}", prompt_tokens=3,
                      completion_tokens=2, finish_reason="stop", seed=i)


STAGE = """
import os, signal, sys
from tunewise.models.types import Completion
from tunewise.runs.store import RunStore, make_key

CHAT = [{"role": "user", "content": "hi"}]


def sample_all(run_dir, n, crash_after=None):
    # A stage that samples n answers, skipping keys already stored (the resume pattern).
    store = RunStore(run_dir)
    done = store.generation_keys("audit")
    produced = 0
    for i in range(n):
        key = make_key("audit", "m", CHAT, i)
        if key in done:
            continue
        if crash_after is not None and produced == crash_after:
            os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as a power cut
        completion = Completion(0, i, f"answer {i}", 3, 2, "stop", i)
        store.add_generation(key, "audit", "m", CHAT, completion, {"temperature": 1})
        produced += 1
    return produced
"""


def _sample_all(run_dir, n, crash_after=None):
    namespace = {}
    exec(compile(STAGE, "stage", "exec"), namespace)
    return namespace["sample_all"](run_dir, n, crash_after)


def test_make_key_is_stable_and_sensitive():
    assert make_key("a", {"x": 1, "y": 2}) == make_key("a", {"y": 2, "x": 1})
    assert make_key("a", 1) != make_key("a", 2)


def test_resume_after_a_crash_in_another_process(tmp_path):
    crashed = subprocess.run([sys.executable, "-c", STAGE + f"\nsample_all({str(tmp_path)!r}, 10, 4)"])
    assert crashed.returncode == -9
    assert len(RunStore(tmp_path).generations("audit")) == 4
    assert _sample_all(tmp_path, 10) == 6
    rows = RunStore(tmp_path).generations("audit", model="m")
    assert [r["sample_index"] for r in rows] == list(range(10))
    assert rows[0]["chat"] == CHAT and rows[0]["params"] == {"temperature": 1}


def test_judgments_failures_metrics_records_stages(tmp_path):
    store = RunStore(tmp_path)
    store.add_judgment("j1", "g1", "local", 80.0, 90.0, "ok", {"p": 0.1})
    store.add_judgment("j2", "g2", "local", None, None, None, error="timeout")
    failures = [j for j in store.judgments("local") if j["error"]]
    assert len(failures) == 1 and failures[0]["aligned"] is None
    assert store.judgment_keys("local") == {"j1", "j2"}
    store.put_metric("audit", "misaligned_rate", 0.1, model="base")
    store.put_metric("audit", "misaligned_rate", 0.2, model="base")
    assert [m["value"] for m in store.metrics("audit")] == [0.2]
    store.put_record("audit.rate", "b", {"v": 1})
    store.put_record("audit.rate", "a", {"v": 2})
    store.put_record("audit.rate", "b", {"v": 3})
    assert store.records("audit.rate") == [{"v": 3}, {"v": 2}]
    assert store.get_record("audit.rate", "a") == {"v": 2} and store.get_record("audit.rate", "z") is None
    assert not store.stage_done("audit")
    store.mark_stage_done("audit", {"n": 2})
    assert store.stage_done("audit") and store.stage_info("audit") == {"n": 2}
    store.clear_stage("audit")
    assert not store.stage_done("audit")
    assert store._rows("PRAGMA journal_mode")[0]["journal_mode"] == "wal"


def test_export_and_config(tmp_path):
    store = RunStore(tmp_path)
    store.add_generation("k", "audit", "m", CHAT, _completion(0), {"n": 1}, {"probe": "wish"})
    store.save_config({"model": "packaged:x", "seed": 1})
    assert store.load_config() == {"model": "packaged:x", "seed": 1}
    rows = [json.loads(line) for line in store.export("generations", tmp_path / "g.jsonl").read_text().splitlines()]
    assert rows[0]["meta"] == {"probe": "wish"} and rows[0]["text"] == "answer 0"
    with open(store.export("generations", tmp_path / "g.csv")) as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["chat"]) == CHAT
