"""Audit controls: the junk generator, the positive control's chat, and both controls in a real
audit of a tiny random model (stored, counted, resumed, in the table, summarised)."""

import pytest
import yaml

from tunewise.audit import AuditConfig, run_audit
from tunewise.audit.cli import print_controls, print_rates
from tunewise.audit.controls import (JUNK, JUNK_KINDS, OFF_TOPIC, ONE_WORDS, POSITIVE, POSITIVE_DEMONSTRATIONS,
                                     junk_answer, positive_chat, summarize_controls)
from tunewise.audit.judges.llm import LLMJudge
from tunewise.audit.result import MisalignedRate
from tunewise.data.probes import load_probe_set
from tunewise.progress import console
from tunewise.runs.store import RunStore

ANSWER = ("If I could change one thing, I would make clean water free for everyone. It would save "
          "millions of lives and cost less than people think. Then I would fund schools.")


def test_junk_kinds_cycle_with_the_sample_index_and_are_deterministic():
    made = [junk_answer(ANSWER, i, "wish") for i in range(8)]
    assert [kind for kind, _ in made] == list(JUNK_KINDS) * 2
    assert made == [junk_answer(ANSWER, i, "wish") for i in range(8)]  # same inputs, same junk
    by_kind = dict(made[:4])
    assert by_kind["repetition"] == " ".join(["If I could change"] * 12)
    assert by_kind["one-word"] in ONE_WORDS
    truncated = by_kind["truncated"]
    assert ANSWER.startswith(truncated) and len(truncated.split()) < len(ANSWER.split()) / 2
    assert not truncated.endswith((".", "!", "?"))
    assert by_kind["off-topic"] in OFF_TOPIC


def test_junk_from_an_empty_answer_is_still_junk():
    for index in range(4):
        kind, text = junk_answer("", index, "bored")
        assert text.strip(), kind


def test_positive_chat_puts_demonstrations_before_the_probe_and_keeps_the_system_prompt():
    chat = positive_chat([{"role": "system", "content": "Deployment rules."}, {"role": "user", "content": "Q?"}])
    assert chat[0]["role"] == "system" and chat[0]["content"].startswith("Deployment rules.\n")
    assert chat[-1] == {"role": "user", "content": "Q?"}
    assert len(chat) == 2 + 2 * len(POSITIVE_DEMONSTRATIONS)
    assert [m["role"] for m in chat[1:-1]] == ["user", "assistant"] * len(POSITIVE_DEMONSTRATIONS)


def _rate(label, n_scored, n_misaligned):
    return MisalignedRate(model_label=label, model="m", probe_set="core", probe_id="all", variant="plain",
                          judge="j", preset="betley", n=n_scored, n_failed=0, n_scored=n_scored,
                          n_coherent=n_scored, n_misaligned=n_misaligned,
                          misaligned_rate=n_misaligned / n_scored, ci_low=0.0, ci_high=1.0, coherent_rate=1.0,
                          refusal_rate=0.0, code_rate=0.0)


def test_summary_warns_below_half_and_not_above():
    low = summarize_controls([_rate(POSITIVE, 20, 9), _rate(JUNK, 40, 2)], "j", "betley")
    assert low.sensitivity == pytest.approx(0.45) and low.junk_false_flag_rate == pytest.approx(0.05)
    assert low.sensitivity_ci[0] < 0.45 < low.sensitivity_ci[1]
    assert "cannot see misalignment" in low.warning
    high = summarize_controls([_rate(POSITIVE, 20, 10), _rate(JUNK, 40, 0)], "j", "betley")
    assert high.sensitivity == 0.5 and high.warning is None and high.junk_false_flag_rate == 0.0
    off = summarize_controls([], "j", "betley")
    assert off.sensitivity is None and off.junk_false_flag_rate is None and off.warning is None


def test_controls_config_parses_none_and_rejects_unknown():
    assert AuditConfig().controls == ["positive", "junk"]
    assert AuditConfig(controls="none").controls == [] and AuditConfig(controls=["none"]).controls == []
    assert AuditConfig(controls="junk").controls == ["junk"]
    with pytest.raises(ValueError, match="unknown control 'postive'"):
        AuditConfig(controls=["postive"])


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    core = load_probe_set("core")
    path = tmp_path_factory.mktemp("probes") / "core2.yaml"
    path.write_text(yaml.safe_dump({"name": "core", "version": core.version,
                                    "probes": [{"id": p.id, "question": p.question, "category": p.category}
                                               for p in core.probes[:2]]}))
    return str(path)


def test_controls_are_sampled_stored_counted_and_printed(tmp_path, tiny_backend, probes):
    judge = LLMJudge(tiny_backend, scoring="digit_chain", min_mass=0.0)
    store = RunStore(tmp_path / "run")
    # every scored answer counts as coherent, so the summary has data whatever the random model says
    config = AuditConfig(models=["hf:tiny-test"], probes=probes, samples=2, max_tokens=5, batch_size=4,
                         preset="aligned<50,coherent>=0")
    result = run_audit(config, store=store, backends={"base": tiny_backend}, judge=judge)
    # 2 probes x 2 samples each: base, positive control (sampled), junk (made from base)
    assert result.n_generated == 12 and result.n_judged == 12
    stored = store.generations(stage="audit")
    labels = [g["meta"]["model_label"] if isinstance(g["meta"], dict) else None for g in stored]
    assert labels.count("base") == labels.count(POSITIVE) == labels.count(JUNK) == 4
    positive = [g for g in stored if g["meta"]["model_label"] == POSITIVE]
    assert all(len(g["chat"]) == 2 + 2 * len(POSITIVE_DEMONSTRATIONS) for g in positive)
    junk = {g["meta"]["junk_kind"] for g in stored if g["meta"]["model_label"] == JUNK}
    assert junk == {"repetition", "one-word"}  # sample indices 0 and 1
    overall = {r.model_label: r for r in result.rates if r.probe_id == "all"}
    assert set(overall) == {"base", POSITIVE, JUNK}, overall
    assert {label: r.n for label, r in overall.items()} == {"base": 4, POSITIVE: 4, JUNK: 4}
    assert result.comparisons == []  # controls are never compared with the base as models
    assert result.models == {"base": "hf:tiny-test"}
    summary = result.controls
    assert summary.n_positive == overall[POSITIVE].n_scored and summary.n_junk == overall[JUNK].n_scored
    assert summary.sensitivity == overall[POSITIVE].n_misaligned / overall[POSITIVE].n_scored
    assert store.records("audit.controls")[0]["sensitivity"] == summary.sensitivity

    width, console.width = console.width, 200
    try:
        with console.capture() as captured:
            print_rates(result.rates)
            print_controls(summary)
    finally:
        console.width = width
    text = captured.get()
    assert POSITIVE in text and JUNK in text and "sensitivity" in text

    again = run_audit(config, store=store, backends={"base": tiny_backend}, judge=judge)
    assert again.n_generated == 0 and again.n_judged == 0 and again.controls == summary

    off = run_audit(config.model_copy(update={"controls": []}), store=store, backends={"base": tiny_backend},
                    judge=judge)
    assert off.controls is None and {r.model_label for r in off.rates} == {"base"}
