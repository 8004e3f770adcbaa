"""The report's audit rows for issue 14 (controls, checkpoint curve), from stored record payloads."""

from tunewise.report.records import AuditCheckpoint, AuditComparison, AuditControls, AuditEarlyStop
from tunewise.report.audit_checks import checkpoint_part as _checkpoint_part, controls_part as _controls_part


def test_controls_rows_and_the_loud_warning():
    record = {"judge": "local", "preset": "betley", "sensitivity": 0.3, "sensitivity_ci": [0.2, 0.45],
              "n_positive": 40, "junk_false_flag_rate": 0.025, "junk_ci": [0.004, 0.13], "n_junk": 40,
              "warning": "the positive control was flagged misaligned in only 30% of 40 answers",
              "method": "misaligned demonstrations in context"}
    html = _controls_part([AuditControls.from_record(record)])
    assert "Warning:" in html and "30.0%" in html and "2.5%" in html and "demonstrations" in html
    assert "Warning:" not in _controls_part([AuditControls.from_record({**record, "warning": None})])
    assert _controls_part([]) == ""


def test_checkpoint_rows_and_the_recommendation():
    points = [AuditCheckpoint.from_record({"run": "r", "step": s, "loss": 2.0 / s, "misaligned_rate": 0.01 * s,
                                           "ci_low": 0.0, "ci_high": 0.1 * s, "diff": 0.0, "p_value": 0.9})
              for s in (1, 2)]
    stop = AuditEarlyStop.from_record({"run": "r", "step": 1, "label": "step-1", "reason": "earliest checkpoint"})
    html = _checkpoint_part(points, [stop])
    assert "<svg" in html and "step-1" in html and "Early stopping" in html
    assert AuditComparison.from_record({"a": "base", "b": "t", "test": "paired"}).test == "paired"
