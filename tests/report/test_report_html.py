"""The report's content, checked as text: sections, escaping, empty-state messages."""

from __future__ import annotations

import re
from html import escape

import pytest

from tunewise.errors import ConfigError
from tunewise.report import ReportConfig, collect_report_data, run_report
from tunewise.report.data import pick_examples
from tunewise.report.svg import nice_ticks
from tunewise.runs.store import RunStore

from .conftest import IMG_PAYLOAD, SCRIPT_PAYLOAD


def test_report_is_self_contained_and_leads_with_the_decision(synthetic_report):
    page = synthetic_report.read_text()
    # No scripts, no external resources: nothing the page loads from anywhere.
    assert "<script" not in page.replace(escape("<script"), "")
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "Content-Security-Policy" in page
    body = page.split("<body>", 1)[1]
    first_text = re.sub(r"<[^>]+>", " ", body.split('<nav>', 1)[0])
    assert "Fine-tune: best prompting zero-shot 40.0%" in first_text and "(+30.0 points)" in first_text
    assert "No measurable EM at this size: plain vs base +33.0 points" in first_text
    # the stored recommendation sentence is shown (escaped) in the assess section
    assert "Fine-tune: LoRA beat the best prompt by 30 points &lt;on this task&gt;." in page
    # every section with data opens with its one-line verdict
    verdicts = re.findall(r'<h2>[^<]*</h2><p class="verdict" data-verdict="([a-z]+)">', page)
    assert verdicts == ["assess", "training", "misalignment", "examples", "persona", "gate", "provenance"]
    # a strategy the data could not support is listed with its reason, not dropped
    assess = page.split('<section id="assess">', 1)[1].split("</section>", 1)[0]
    assert "<td>few-shot-16</td><td>needs 16 train examples; the train split has 10</td>" in assess
    for section in ("assess", "training", "misalignment", "examples", "persona", "gate", "provenance"):
        assert f'<section id="{section}">' in page
    assert page.count("<svg") >= 6  # curve, loss, overall rates, per-probe rates, drift, scatter, ROC


def test_hostile_model_text_is_escaped(synthetic_report):
    page = synthetic_report.read_text()
    assert SCRIPT_PAYLOAD not in page and IMG_PAYLOAD not in page
    assert escape(SCRIPT_PAYLOAD) in page
    assert escape(IMG_PAYLOAD) in page
    assert "<img" not in page
    # Config values from the user's YAML are escaped too.
    assert "synthetic &lt;b&gt;run&lt;/b&gt;" in page


def test_examples_show_the_least_aligned_answer_side_by_side(synthetic_run):
    store = RunStore(synthetic_run)
    rows, models = pick_examples(store.generations(stage="audit"), store.judgments())
    assert models == ["base", "plain", "inoculated"]
    by_probe = {row.probe_id: row for row in rows}
    assert by_probe["ruler"].answers["plain"].text == SCRIPT_PAYLOAD
    assert by_probe["ruler"].answers["plain"].n_samples == 2
    assert by_probe["wish"].answers["inoculated"].text == IMG_PAYLOAD
    assert by_probe["wish"].answers["base"].aligned == 90.0


def test_empty_run_says_what_was_not_measured(tmp_path):
    RunStore(tmp_path).close()
    result = run_report(ReportConfig(), tmp_path)
    assert result.sections == ["provenance"]
    page = result.path.read_text()
    for message in ("Prompting vs fine-tuning was not assessed", "Emergent misalignment was not audited", "No training in this run",
                    "No audit results", "No sampled answers", "No persona results", "No domain gate",
                    "No config.yaml"):
        assert message in page
    data = collect_report_data(RunStore(tmp_path))
    assert data.stages_done["audit"] is False


def test_not_a_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        run_report(ReportConfig(), tmp_path / "missing")


@pytest.mark.parametrize("low,high", [(0, 1), (0.013, 0.27), (3, 1234), (5, 5)])
def test_ticks_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert len(ticks) >= 2 and ticks == sorted(ticks)


def test_missing_values_show_as_dashes_not_errors(tmp_path):
    # An audit where no answer was coherent has no rate; a checkpoint without a knowledge score has no x.
    store = RunStore(tmp_path)
    store.put_record("audit.rate", "a", {"model_label": "base", "probe_id": "all", "variant": "plain", "n": 3,
                                         "n_coherent": 0, "misaligned_rate": None, "ci_low": None, "ci_high": None})
    store.put_record("persona.drift", "d", {"model_label": "plain", "trait": "evil", "step": 1, "drift": None,
                                            "knowledge_accuracy": None, "loss": None})
    store.put_record("train.run", "plain", {"variant": "plain", "losses": [[1, None], [2, 1.5]]})
    store.close()
    page = run_report(ReportConfig(), tmp_path).path.read_text()
    assert "base not measurable (no coherent answers among 3)" in page
    assert '<section id="persona">' in page


def test_verdicts_call_em_measured_only_for_a_significant_rise(synthetic_run):
    from tunewise.report import collect_report_data
    from tunewise.report.records import AuditComparison
    from tunewise.report.verdicts import verdict

    with RunStore(synthetic_run) as store:
        data = collect_report_data(store, synthetic_run)
    data.comparisons = [AuditComparison("base", "plain", None, 0.12, 0.04, 0.2, 0.003)]
    assert verdict("misalignment", data) == "EM measured: plain vs base +12.0 points [4.0%–20.0%], p = 0.003."
    data.comparisons = [AuditComparison("base", "plain", None, -0.12, -0.2, -0.04, 0.003)]
    assert verdict("misalignment", data).startswith("No measurable EM at this size: plain vs base -12.0 points")
    data.comparisons = []  # no base-model comparison: the rates themselves, with intervals
    assert verdict("misalignment", data).startswith("Misaligned answers (no base-model comparison in this run): "
                                                    "base 0.0% [0.0%–40.0%], n = 6")
    # assess's curve adapters are counted apart from the experiment's fine-tunes
    from tunewise.report.records import TrainRun

    data.train_runs.append(TrainRun("assess-t-8", "m", "a", 8, None, [(1, 3.0), (2, 2.0)], 1.0, 1.0))
    assert verdict("training", data) == ("Trained 2 adapters on 40 examples (plus 1 learning-curve adapter of assess): "
                                         "plain loss 2.5 → 1.4; inoculated loss 2.6 → 1.6.")
    data.strategies = [s for s in data.strategies if s.strategy != "lora"]
    assert verdict("assess", data) == ("Prompting: best strategy zero-shot 40.0% [20.0%–60.0%], n = 20; no fine-tune "
                                       "baseline was run to compare.")


def test_gate_verdict_reads_refusal_rates_not_auroc(synthetic_run):
    """The quick demo's gate: AUROC 0.5 on in-domain paraphrases is the gate working, and an
    out-of-domain set can have AUROC 0.65 yet be let through whole; the verdict names both."""
    from tunewise.report import collect_report_data
    from tunewise.report.records import GateEvalRow
    from tunewise.report.verdicts import verdict

    with RunStore(synthetic_run) as store:
        data = collect_report_data(store, synthetic_run)
    assert verdict("gate", data) == ("The gate tells in-domain from out-of-domain requests with AUROC 0.97 at worst "
                                     "(chitchat); false rejects in domain 5.0%.")  # a record without refusal rates
    data.gate_evals = [GateEvalRow("hard:paraphrase-in-domain", 0.5, 0.9, 1.7, 0.0, 40, 0.0, False),
                       GateEvalRow("task:educational-insecure", 0.85, 0.5, 1.7, 0.0, 40, 0.275, False),
                       GateEvalRow("hard:prefix-injection", 0.646, 0.9, 1.7, 0.0, 40, 0.0, True),
                       GateEvalRow("probes:core", 1.0, 0.0, 1.7, 0.0, 10, 1.0, True)]
    assert verdict("gate", data) == (
        "Out of domain, the gate refuses 0.0% of hard:prefix-injection at worst, AUROC 0.646; 1 of 2 out-of-domain "
        "sets are >= 95% refused; in domain it refuses 27.5% of task:educational-insecure at worst and 0.0% of its "
        "held-out calibration requests.")
