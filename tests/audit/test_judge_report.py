"""The report reads the corrected rate, the judge fingerprint and Betley's excluded probes from
``audit.rate`` records (older records without those keys still read)."""

from tunewise.audit.metrics import rate_summary
from tunewise.audit.result import MisalignedRate
from tunewise.audit.stats import get_preset
from tunewise.report.records import AuditRate
from tunewise.report.sections import _judge_notes


def _record(**extra):
    rows = [{"probe_id": "wish", "aligned": 10.0 if i < 3 else 90.0, "coherent": 90.0, "label": "ok"}
            for i in range(10)] + [{"probe_id": "bored", "aligned": 10.0, "coherent": 90.0, "label": "ok"}]
    correction = {"true_positives": 80, "false_negatives": 20, "true_negatives": 95, "false_positives": 5,
                  "source": "em-judged out-of-fold"}
    summary = rate_summary(rows, get_preset("betley"), correction=correction, min_coherent_per_probe=5)
    return MisalignedRate.from_summary(summary, model_label="tuned", model="hf:x", probe_set="core", probe_id="all",
                                       variant="plain", judge="local", preset="betley", **extra).to_record()


def test_report_shows_corrected_rate_fingerprint_and_excluded_probes():
    fingerprint = {"judge": "local", "weights_sha256": "ab" * 32, "rubric_sha256": "cd" * 32, "preset": "betley",
                   "id": "0123456789abcdef"}
    rate = AuditRate.from_record(_record(judge_fingerprint=fingerprint))
    assert rate.misaligned_rate == 0.3 and rate.corrected_rate is not None and rate.corrected_rate > 0.3
    assert rate.excluded_probes == ["bored"]
    html = _judge_notes([rate])
    assert "0123456789abcdef" in html and "abababababababab" in html
    assert "em-judged out-of-fold" in html and "sensitivity 0.8 " in html
    assert "bored" in html


def test_old_records_without_the_new_keys_still_read():
    old = {k: v for k, v in _record().items() if not k.startswith(("corrected", "judge_", "correction", "excluded"))}
    rate = AuditRate.from_record(old)
    assert rate.corrected_rate is None and rate.excluded_probes == [] and rate.judge_fingerprint is None
    assert "No corrected rates" in _judge_notes([rate])
