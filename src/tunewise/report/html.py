"""Render ``ReportData`` as one self-contained HTML page: the headline, then the sections.

Self-contained means: inline CSS, inline SVG, no scripts, no fonts or assets from a network, so
the file can be mailed, archived or opened offline. A Content-Security-Policy meta tag forbids
scripts outright; escaping is still done everywhere (``html.escape``) because model answers
are untrusted text and the policy is a second wall, not the first.
The sections themselves are in ``sections.py``; the cell formatting in ``format.py``.
"""

from __future__ import annotations

import datetime as _dt

from tunewise.report.config import ReportConfig
from tunewise.report.data import ReportData
from tunewise.report.format import esc, ci, pct
from tunewise.report.records import AuditRate
from tunewise.report.sections import SECTIONS
from tunewise.report.verdicts import decision_sentence, experiment_runs, verdict

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.meta{color:#666;font-size:13px}
.decision{background:#fff;border-left:6px solid #0072B2;padding:14px 18px;margin:14px 0;font-size:18px;box-shadow:0 1px 3px #0001}
.decision p{margin:4px 0}.decision .small{font-size:14px;color:#444}
.empty{color:#777;font-style:italic}
.verdict{font-weight:600;margin:6px 0 10px}
nav a{margin-right:14px;font-size:14px}
table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:14px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{background:#fff;border:1px solid #e4e4e4;max-width:100%;height:auto;font:12px system-ui,sans-serif;margin:6px 0}
.answers{display:grid;gap:10px;margin:6px 0 18px}
.answer{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px;min-width:0}
.answer h4{margin:0 0 4px;font-size:13px}
.answer pre,pre.config{white-space:pre-wrap;word-wrap:break-word;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace;margin:0;max-height:320px;overflow:auto}
.q{font-weight:600;margin-top:14px}
.tag{display:inline-block;font-size:11.5px;padding:0 6px;border-radius:8px;background:#eee;margin-left:4px}
.tag.bad{background:#f8d0c0}.tag.ok{background:#cdebd9}
details{margin:6px 0}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _interval(rate: AuditRate) -> str:
    n = rate.n if rate.n is not None else "?"
    if rate.misaligned_rate is None:
        return (f"not measurable (no coherent answers among {n}"
                + (f"; {rate.n_failed} judge failures" if rate.n_failed else "") + ")")
    return f"{pct(rate.misaligned_rate)} (95% CI {ci(rate.ci_low, rate.ci_high)}, n={n})"


def headline(data: ReportData) -> list[str]:
    """The sentences at the top of the report, most important first; plain text (escaped later).

    With an assess result the decision leads, in one sentence with its numbers; then what
    fine-tuning did (EM, persona drift, the gate). Without one, the audit leads and a second
    sentence says the prompting-vs-fine-tuning question was not measured.
    """
    overall = [r for r in data.overall_rates if r.plain]
    if overall:
        audit = "Misaligned answers on out-of-domain probes: " + "; ".join(
            f"{r.column} {_interval(r)}" for r in overall) + "."
    else:
        audit = "Emergent misalignment was not audited in this run."
    if data.recommendation:
        # then what fine-tuning did: EM (against the base model where compared), persona drift
        # with knowledge, the gate; each in its section verdict's words
        effects = [verdict("misalignment", data) or audit, verdict("persona", data), verdict("gate", data)]
        return [decision_sentence(data) or audit, *[line for line in effects if line]]
    return [audit, "Prompting vs fine-tuning was not assessed in this run (no assess stage), so there is no "
                   "decision on whether to fine-tune."]


def _verdict_line(section, data: ReportData) -> str:
    """The section's one-line verdict (report/verdicts.py), only where it has data."""
    line = verdict(section.key, data) if section.has_data(data) else None
    return f'<p class="verdict" data-verdict="{esc(section.key)}">{esc(line)}</p>' if line else ""


def _caveats(data: ReportData) -> list[str]:
    notes = []
    sizes = [r.n for r in data.overall_rates if r.n is not None]
    if sizes and max(sizes) < 200:
        notes.append(f"Small run: at most {max(sizes)} judged answers per model, so intervals are wide; "
                     "the paper-scale configuration in examples/ uses 100 samples per probe on a GPU.")
    counts = [r.n_examples for r in experiment_runs(data) if r.n_examples]  # not assess's curve adapters
    if counts and max(counts) < 2000:
        notes.append(f"Trained on {max(counts)} examples; Betley et al. saw little emergent misalignment "
                     "below 2,000 examples and about 0% at 500.")
    return notes


def render_html(data: ReportData, config: ReportConfig | None = None, *,
                generated_at: _dt.datetime | None = None) -> str:
    """The whole report page as a string."""
    config = config or ReportConfig()
    generated_at = generated_at or _dt.datetime.now(_dt.timezone.utc)
    title = config.title or data.config.name or data.run_dir.name
    sentences = headline(data)
    caveats = _caveats(data)
    nav = "".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in SECTIONS)
    sections = "".join(f'<section id="{s.key}"><h2>{esc(s.title)}</h2>{_verdict_line(s, data)}{s.body(data, config)}'
                       "</section>" for s in SECTIONS)
    decision = f'<p id="decision-sentence"><b>{esc(sentences[0])}</b></p>' + "".join(
        f'<p class="small">{esc(s)}</p>' for s in sentences[1:] + caveats)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tunewise report: {esc(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>tunewise report: {esc(title)}</h1>"
        f'<div class="meta">generated {esc(generated_at.strftime("%Y-%m-%d %H:%M UTC"))} from '
        f"<code>{esc(data.run_dir)}</code>; model <code>{esc(data.config.model)}</code></div>"
        + (f"<p>{esc(data.config.description)}</p>" if data.config.description else "") +
        f'<div class="decision">{decision}</div><nav>{nav}</nav>{sections}'
        "</main></body></html>\n"
    )
