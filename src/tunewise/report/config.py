"""``ReportConfig``: every setting of the HTML report, declared once.

The same fields are the ``tunewise report`` flags, the ``report:`` section of an experiment file
and the keywords of ``ReportConfig(...)``. The run folder is not a field: it is the argument of
``run_report`` (``--run-dir``), as for every capability.
"""

from __future__ import annotations

from pydantic import Field

from tunewise.config import CapabilityConfig


class ReportConfig(CapabilityConfig):
    """What the report shows and where it is written. Defaults give today's page."""

    section = "report"

    out: str | None = Field(None, description=(
        "where to write the HTML (a relative path is relative to the current folder); "
        "none: report.html in the run folder"))
    title: str | None = Field(None, description=(
        "the page title after 'tunewise report:'; none: the experiment's name in config.yaml, "
        "else the run folder's name"))
    example_probes: int = Field(12, ge=1, description=(
        "how many probes the example-answers section shows, in the order they were sampled "
        "(one answer per model each)"))
    screen_rows: int = Field(10, ge=1, description=(
        "how many training examples with the highest trait scores the training-data screen lists"))
