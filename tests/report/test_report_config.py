"""``ReportConfig`` settings, ``run_report``'s result, the ``tunewise report`` flags, the typed views."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from tunewise.errors import ConfigError
from tunewise.report import ReportConfig, ReportResult, collect_report_data, headline, run_report
from tunewise.report.records import AuditRate, GateEvalRow, TrainRun
from tunewise.runs.store import RunStore

ALL_SECTIONS = ["assess", "training", "misalignment", "examples", "persona", "gate", "provenance"]


def test_result_names_the_file_the_headline_and_the_sections(synthetic_run, tmp_path):
    out = tmp_path / "sub" / "r.html"
    result = run_report(ReportConfig(out=str(out)), synthetic_run)
    assert isinstance(result, ReportResult)
    assert result.path == out and out.read_text().startswith("<!DOCTYPE html>")
    assert not (tmp_path / "sub" / "r.html.tmp").exists()
    assert result.sections == ALL_SECTIONS
    with RunStore(synthetic_run) as store:
        assert result.headline == headline(collect_report_data(store, synthetic_run))
        assert store.get_record("report.run", str(out)) == result.to_record()
    # the decision first, in one sentence with its numbers; then what fine-tuning did
    assert result.headline[0] == ("Fine-tune: best prompting zero-shot 40.0% [20.0%–60.0%], n = 20 vs LoRA "
                                  "fine-tune 70.0% [50.0%–85.0%] (+30.0 points).")
    assert result.headline[1].startswith("No measurable EM at this size: plain vs base +33.0 points")
    assert "p = 0.2" in result.headline[1]
    assert result.headline[2].startswith("Drift along the trait vectors") and "plain evil +0.90" in result.headline[2]
    assert result.headline[3].startswith("The gate tells") and "AUROC 0.97" in result.headline[3]


def test_settings_change_the_page(synthetic_run, tmp_path):
    config = ReportConfig(out=str(tmp_path / "r.html"), title="Week 3 <draft>", example_probes=1, screen_rows=2)
    page = run_report(config, synthetic_run).path.read_text()
    assert "<title>tunewise report: Week 3 &lt;draft&gt;</title>" in page
    assert page.count('<div class="q">') == 1  # the synthetic run has 3 probes
    screen = page.split("<h3>Training-data screen</h3>", 1)[1].split("</table>", 1)[0]
    assert screen.count("<tr>") == 1 + 2  # header + the two highest scores
    default = run_report(ReportConfig(out=str(tmp_path / "d.html")), synthetic_run).path.read_text()
    assert "<title>tunewise report: synthetic &lt;b&gt;run&lt;/b&gt;</title>" in default
    assert default.count('<div class="q">') == 3


def test_settings_are_validated():
    with pytest.raises(ValueError, match="example_probes"):
        ReportConfig(example_probes=0)
    with pytest.raises(ValueError, match="extra"):
        ReportConfig(max_probes=3)


def test_a_shared_store_is_used_and_left_open(synthetic_run, tmp_path):
    store = RunStore(synthetic_run)
    result = run_report(ReportConfig(out=str(tmp_path / "r.html")), store=store)
    assert result.run_dir == synthetic_run
    assert store.records("train.run")  # still open: the pipeline keeps using it
    store.close()


def test_no_run_folder_is_an_error():
    with pytest.raises(ConfigError, match="which run folder"):
        run_report(ReportConfig())


def _invoke(args):
    from tunewise.cli import app

    return CliRunner().invoke(app, ["report", *args])


def test_report_command_takes_run_dir_and_the_fields_as_flags(synthetic_run, tmp_path):
    out = tmp_path / "r.html"
    result = _invoke(["--run-dir", str(synthetic_run), "--out", str(out), "--title", "flag title",
                      "--example-probes", "2"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "tunewise report: flag title" in page and page.count('<div class="q">') == 2
    assert f"report: {out}" in result.output
    assert "Fine-tune: best prompting zero-shot 40.0%" in result.output


def test_report_command_reads_the_report_section_of_a_config_file(synthetic_run, tmp_path):
    out = tmp_path / "r.html"
    config = tmp_path / "experiment.yaml"
    config.write_text(f"name: x\nreport:\n  enabled: true\n  out: {out}\n  screen_rows: 1\n")
    result = _invoke(["--config", str(config), "--run-dir", str(synthetic_run), "--title", "from flag"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "tunewise report: from flag" in page
    assert page.split("<h3>Training-data screen</h3>", 1)[1].split("</table>", 1)[0].count("<tr>") == 2


def test_report_command_still_accepts_the_run_folder_as_an_argument(synthetic_run, tmp_path):
    out = tmp_path / "r.html"
    result = _invoke([str(synthetic_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    clash = _invoke([str(synthetic_run), "--run-dir", str(tmp_path)])
    assert isinstance(clash.exception, ConfigError) and "two run folders" in str(clash.exception)
    missing = _invoke([])
    assert isinstance(missing.exception, ConfigError) and "--run-dir" in str(missing.exception)


def test_views_turn_missing_or_junk_values_into_none():
    rate = AuditRate.from_record({"model": "m", "variant": "inoculated", "n": 6.0, "misaligned_rate": math.nan,
                                  "ci_low": "x", "probe_id": "all"})
    assert rate.n == 6 and isinstance(rate.n, int)
    assert rate.misaligned_rate is None and rate.ci_low is None and rate.n_failed is None
    assert rate.overall and not rate.plain and rate.column == "m · with inoculation prompt"
    gate = GateEvalRow.from_record({"ood_set": "chitchat", "roc": [[0, 0], [0.5, None], "junk", [1, 1]]})
    assert gate.roc == [(0.0, 0.0), (1.0, 1.0)] and gate.auroc is None
    run = TrainRun.from_record({"variant": "plain", "losses": [[1, None], [2, 1.5]], "inoculation": 3})
    assert run.losses == [(2.0, 1.5)] and run.inoculation is None and run.n_examples is None
