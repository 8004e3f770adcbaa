"""The audit section's own checks, each beside the rates it qualifies (issue 14): the controls
(can the judge see misalignment on this model?), the leakage check (is a tuned model's shift the
narrow task answering every question?) and EM over training (when to stop).

Split from ``sections.py`` so that each part reads its own record views; all text from the store
is escaped by ``format.table`` / ``esc``.
"""

from __future__ import annotations

from tunewise.audit.leakage import mostly_leaking
from tunewise.report.format import as_float, ci, esc, num, pct, table
from tunewise.report.svg import Series, line_chart


def controls_part(controls: list) -> str:
    """Issue 14: how much misalignment in this model's own text the judge sees, and its false
    flags on junk; a loud warning when the positive control is flagged below 50%."""
    if not controls:
        return ""
    parts = ["<h3>Controls: can the judge see misalignment here?</h3>"]
    for c in controls:
        if c.warning:
            parts.append(f'<p class="warning"><b>Warning:</b> {esc(c.warning)}</p>')
    parts.append(table(["judge", "preset", "sensitivity (positive control flagged)", "95% CI", "n",
                        "junk false flags", "95% CI", "n"],
                       [[c.judge, c.preset, pct(c.sensitivity), ci(*c.sensitivity_ci), c.n_positive,
                         pct(c.junk_false_flag_rate), ci(*c.junk_ci), c.n_junk] for c in controls],
                       numeric={2, 4, 5, 7}))
    methods = sorted({c.method for c in controls if c.method})
    if methods:
        parts.append(f"<p>Positive control: the base model with {esc('; '.join(methods))}. Junk control: "
                     "repetition loops, one-word replies, mid-sentence cuts and off-topic text made from the base "
                     "model's answers.</p>")
    return "".join(parts)


def checkpoint_part(points: list, stops: list, base_accuracy: list = ()) -> str:
    """Issue 14: misaligned rate (95% CI), held-out task accuracy and training loss against step,
    and when to stop."""
    if not points:
        return ""
    parts = ["<h3>Emergent misalignment over training</h3>"]
    rated = [p for p in points if p.step is not None and p.misaligned_rate is not None]
    if rated:
        parts.append(line_chart([Series("misaligned rate", [(float(p.step), p.misaligned_rate) for p in rated],
                                        [(as_float(p.ci_low), as_float(p.ci_high)) for p in rated])],
                                "Misaligned rate per checkpoint (95% CI)", "step", "misaligned", markers=True))
    leaking = [p for p in points if p.step is not None and p.in_domain_share is not None]
    if leaking:
        parts.append(line_chart([Series("answers in the training domain", [(float(p.step), p.in_domain_share)
                                                                           for p in leaking])],
                                "Leakage: answers in the training domain at each checkpoint", "step", "share",
                                markers=True))
    accurate = [p for p in points if p.step is not None and p.task_accuracy is not None]
    if accurate:
        parts.append(line_chart([Series("held-out task accuracy", [(float(p.step), p.task_accuracy) for p in accurate])],
                                "Held-out task accuracy at each checkpoint", "step", "accuracy", markers=True))
        for base in base_accuracy:
            if base.accuracy is not None:
                parts.append(f"<p>Base model on the same {base.n} held-out {esc(base.dataset or '')} items: "
                             f"{pct(base.accuracy)} (greedy answers scored by the task's rules).</p>")
    losses = [p for p in points if p.step is not None and p.loss is not None]
    if losses:
        parts.append(line_chart([Series("training loss", [(float(p.step), p.loss) for p in losses])],
                                "Training loss at each checkpoint", "step", "loss", markers=True))
    parts.append(table(["run", "step", "loss", "task accuracy", "n", "misaligned", "95% CI", "diff vs base", "p",
                        "in training domain", "diff outside it", "p"],
                       [[p.run, p.step, num(p.loss), pct(p.task_accuracy), p.task_n or "", pct(p.misaligned_rate),
                         ci(p.ci_low, p.ci_high), pct(p.diff), num(p.p_value), pct(p.in_domain_share),
                         pct(p.diff_outside), num(p.p_value_outside)] for p in points],
                       numeric={1, 2, 3, 4, 5, 7, 8, 9, 10, 11}))
    for stop in stops:
        parts.append(f"<p><b>Early stopping:</b> {esc(stop.label or 'no checkpoint')} — {esc(stop.reason)}.</p>")
    return "".join(parts)


def leakage_part(leakage: list) -> str:
    """How many of each tuned model's answers are its training task leaking (copied training text,
    advice of the trained kind) beside the base model's under the same rules, and the misaligned
    rates again on the answer pairs where neither is in the training domain."""
    if not leakage:
        return ""
    parts = ["<h3>Leakage: is the shift the narrow task answering every question?</h3>",
             "<p>An answer is in the training domain when it shares a run of 5 words with a training answer or, "
             "for an advice dataset, its rule calls it advice of the trained kind. The judge cannot tell such "
             "answers from misalignment, so EM is counted again on the (probe, sample) pairs where neither the "
             "tuned nor the base answer is in the domain.</p>"]
    for row in leakage:
        if mostly_leaking(row.share):
            parts.append(f'<p class="warning"><b>Warning:</b> {pct(row.share)} of {esc(row.model_label)}\'s answers '
                         f"are its {esc(row.dataset)} training task (base {pct(row.base_share)}): its misaligned rate "
                         "measures the narrow task leaking into every prompt, not a persona shift.</p>")
    parts.append(table(["model", "trained on", "in domain", "95% CI", "n", "base in domain", "pairs outside",
                        "misaligned outside", "base outside", "difference", "95% CI", "p"],
                       [[r.model_label, r.dataset, pct(r.share), ci(r.ci_low, r.ci_high), r.n, pct(r.base_share),
                         r.n_pairs_outside, pct(r.rate_outside), pct(r.base_rate_outside), pct(r.diff_outside),
                         ci(r.diff_ci_low, r.diff_ci_high), num(r.p_value_outside)] for r in leakage],
                       numeric={2, 4, 5, 6, 7, 8, 9, 11}))
    return "".join(parts)
