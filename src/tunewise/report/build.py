"""``run_report``: write ``report.html`` for a run folder and say what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewise.errors import ConfigError
from tunewise.report.config import ReportConfig
from tunewise.report.data import collect_report_data
from tunewise.report.html import headline, render_html
from tunewise.report.sections import sections_with_data


@dataclass
class ReportResult:
    """What ``run_report`` wrote; also stored as the ``report.run`` record (keyed by path)."""

    path: Path
    run_dir: Path
    headline: list[str]  # the sentences at the top of the page, most important first
    sections: list[str] = field(default_factory=list)  # keys of the sections with data, in page order

    def to_record(self) -> dict:
        return {"path": str(self.path), "run_dir": str(self.run_dir), "headline": self.headline,
                "sections": self.sections}


def run_report(config: ReportConfig, run_dir: str | Path | None = None, *, store=None) -> ReportResult:
    """Render the report of ``run_dir`` (or of ``store``'s run folder) into ``config.out``.

    It only reads the run store (plus ``config.yaml``), so it can be re-run at any time, e.g.
    after re-judging. There is no default run folder: the report reads a folder other stages
    wrote, and guessing one would report on the wrong run. Without ``store`` the folder must
    already hold ``tunewise.sqlite``; a store opened here is closed before returning.
    """
    from tunewise.runs.store import RunStore

    if run_dir is None and store is None:
        raise ConfigError("run_report: which run folder? give run_dir (CLI: --run-dir), the folder that "
                          "`tunewise run` or a stage wrote")
    run_dir = Path(run_dir if run_dir is not None else store.run_dir)
    own_store = store is None
    if own_store:
        if not (run_dir / "tunewise.sqlite").exists():
            raise ConfigError(f"{run_dir}: not a run folder (no tunewise.sqlite); run `tunewise run` or a stage first")
        store = RunStore(run_dir)
    try:
        data = collect_report_data(store, run_dir, config)
        out = Path(config.out) if config.out is not None else run_dir / "report.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(render_html(data, config), encoding="utf-8")
        tmp.replace(out)  # atomic: a browser never sees half a report
        result = ReportResult(path=out, run_dir=run_dir, headline=headline(data), sections=sections_with_data(data))
        store.put_record("report.run", str(out), result.to_record())
        return result
    finally:
        if own_store:
            store.close()


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """``run_report`` with default settings, returning only the path (the pre-``ReportConfig`` API)."""
    return run_report(ReportConfig(out=None if out is None else str(out)), run_dir).path
