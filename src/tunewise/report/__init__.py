"""The HTML report: one self-contained file that answers "should I fine-tune, and what did it do?".

Python API::

    from tunewise.report import build_report
    path = build_report("runs/demo")          # writes runs/demo/report.html

``build_report`` only reads the run store (records written by assess, train, audit, persona
and gate); it can be re-run at any time, e.g. after re-judging, without touching the models.
"""

from __future__ import annotations

from tunewise.report.build import build_report, environment_versions
from tunewise.report.data import ReportData, collect_report_data
from tunewise.report.html import render_html

__all__ = ["build_report", "collect_report_data", "environment_versions", "render_html", "ReportData"]
