"""The HTML report: one self-contained file that answers "should I fine-tune, and what did it do?".

Python API::

    from tunewise.report import ReportConfig, run_report
    result = run_report(ReportConfig(), "runs/demo")     # writes runs/demo/report.html
    result.path, result.headline, result.sections

``run_report`` only reads the run store (records written by assess, train, audit, persona
and gate); it can be re-run at any time, e.g. after re-judging, without touching the models.
"""

from __future__ import annotations

from tunewise.report.build import ReportResult, build_report, run_report
from tunewise.report.config import ReportConfig
from tunewise.report.data import ReportData, collect_report_data, environment_versions
from tunewise.report.html import headline, render_html

__all__ = ["ReportConfig", "ReportResult", "run_report", "build_report", "collect_report_data",
           "environment_versions", "headline", "render_html", "ReportData"]
