"""run_audit end to end on a tiny random model: storage, resume, re-judge, failures, export."""

import csv

import pytest
import yaml

from tunewise.audit import AuditConfig, AuditError, export_audit_csv, run_audit
from tunewise.audit.judges import JudgeError
from tunewise.audit.judges.llm import LLMJudge
from tunewise.data.probes import load_probe_set
from tunewise.runs.store import RunStore


class Interrupted(Exception):
    pass


class StopsAfter:
    """The real backend, interrupted after ``calls`` generate calls (a crash mid-audit)."""

    def __init__(self, backend, calls: int):
        self.backend, self.calls, self.model_ref = backend, calls, backend.model_ref
        self.chats_generated = 0

    def generate(self, chats, params):
        if self.calls == 0:
            raise Interrupted()
        self.calls -= 1
        self.chats_generated += len(chats)
        return self.backend.generate(chats, params)

    def top_logprobs(self, chats, k=20):
        return self.backend.top_logprobs(chats, k)


class FailsOnSome:
    """A real judge that fails (raises JudgeError) on answers whose sample index is odd-length text."""

    name = "flaky"

    def __init__(self, judge):
        self.judge = judge

    def score_many(self, pairs):
        return [JudgeError("judge server timed out") if len(answer) % 2 else self.judge.score(q, answer)
                for q, answer in pairs]


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """The first three core probes, as a probe-set file named like the core set."""
    core = load_probe_set("core")
    path = tmp_path_factory.mktemp("probes") / "core3.yaml"
    path.write_text(yaml.safe_dump({"name": "core", "version": core.version,
                                    "probes": [{"id": p.id, "question": p.question, "category": p.category}
                                               for p in core.probes[:3]]}))
    return str(path)


@pytest.fixture(scope="module")
def judge(tiny_backend):
    return LLMJudge(tiny_backend, scoring="digit_chain", min_mass=0.0)


def test_interrupted_audit_resumes_without_resampling(tmp_path, tiny_backend, probes, judge):
    store = RunStore(tmp_path / "run")
    config = AuditConfig(models=["hf:tiny-test"], probes=probes, samples=2, max_tokens=6, batch_size=2, controls=[])
    crashing = StopsAfter(tiny_backend, calls=1)
    with pytest.raises(Interrupted):
        run_audit(config, store=store, backends={"base": crashing}, judge=judge)
    first = {g["key"]: g["text"] for g in store.generations(stage="audit")}
    assert len(first) == 2  # one chat (2 samples) stored before the crash

    resumed = StopsAfter(tiny_backend, calls=100)
    result = run_audit(config, store=store, backends={"base": resumed}, judge=judge)
    assert resumed.chats_generated == 2  # only the two probes still missing
    after = {g["key"]: g["text"] for g in store.generations(stage="audit")}
    assert len(after) == 6 and all(after[k] == v for k, v in first.items())
    assert result.n_generated == 4 and result.n_judged == 6
    assert result.models == {"base": "hf:tiny-test"} and result.run_dir == tmp_path / "run"
    overall = result.overall("base")
    assert overall.n == 6 and overall.probe_set == "core" and overall.preset == "betley"
    records = store.records("audit.rate")
    assert {r["probe_id"] for r in records} == {"all", *[p.id for p in load_probe_set(probes).probes]}
    assert overall.to_record() in records  # the typed rate is exactly the stored record

    # Same audit again: nothing sampled, nothing judged (the backend would raise if called).
    again = run_audit(config, store=store, backends={"base": StopsAfter(tiny_backend, 0)}, judge=judge)
    assert again.n_generated == 0 and again.n_judged == 0
    assert again.overall("base") == overall


def test_rejudge_and_failures_are_counted_not_zero(tmp_path, tiny_backend, probes, judge):
    store = RunStore(tmp_path / "run")
    # Every scored answer counts as coherent, so the comparison has data whatever the random model says.
    config = AuditConfig(models={"base": "hf:tiny-test", "tuned": "hf:tiny-test-2"}, probes=probes, samples=2,
                         max_tokens=6, batch_size=4, preset="aligned<50,coherent>=0", controls=[])
    backends = {"base": tiny_backend, "tuned": tiny_backend}
    run_audit(config, store=store, judge=judge, backends=backends)
    n_answers = len(store.generations(stage="audit"))
    assert n_answers == 12

    flaky = FailsOnSome(judge)
    never = {label: StopsAfter(tiny_backend, 0) for label in config.model_refs}  # re-judging must not sample
    strict = config.model_copy(update={"max_failure_rate": 0.0})
    with pytest.raises(AuditError, match="judgments failed"):
        run_audit(strict, store=store, judge=flaky, backends=never)
    failed = [j for j in store.judgments("flaky") if j["error"]]
    assert failed and all(j["aligned"] is None and j["coherent"] is None for j in failed)
    lenient = config.model_copy(update={"max_failure_rate": 1.0, "export_csv": str(tmp_path / "answers.csv")})
    result = run_audit(lenient, store=store, judge=flaky, backends=never)
    assert result.n_judged == 0 and result.n_failed == len(failed)
    assert sum(r.n_failed for r in result.rates if r.probe_id == "all") == len(failed)
    comparison = result.comparisons[0]
    assert comparison.a == "base" and comparison.b == "tuned" and 0 < comparison.p_value <= 1
    assert comparison.ci_low <= comparison.diff <= comparison.ci_high
    assert comparison.preset == "aligned<50,coherent>=0"
    stored = [r for r in store.records("audit.comparison") if r["judge"] == "flaky"]
    assert stored == [c.to_record() for c in result.comparisons]  # the typed comparison is the record

    path = tmp_path / "answers.csv"  # written by run_audit (export_csv), judged by "flaky"
    assert path.read_text() == export_audit_csv(store, tmp_path / "again.csv", judge="flaky").read_text()
    with path.open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames[:5] == ["response", "question", "question_id", "aligned", "coherent"]
    assert len(rows) == n_answers
    assert sum(1 for r in rows if r["error"]) == len(failed)
    assert all(r["aligned"] == "" for r in rows if r["error"])
