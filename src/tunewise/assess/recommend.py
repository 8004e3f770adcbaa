"""The decision rule, stated in words wherever a decision is shown.

Prompting wins ties: it is cheaper to change, ports to a new model for free, and leaves the
model's behaviour elsewhere untouched, whereas a narrow fine-tune can shift it (emergent
misalignment, Betley et al. 2025) and locks you to the tuned model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

RULE = ("Prompting is recommended when the best prompting strategy's accuracy is within {margin:g} points of "
        "the fine-tune's, or their 95% Wilson intervals overlap; otherwise fine-tuning is recommended.")
CAVEATS = ("A fine-tune is narrow: check it with `tunewise audit` (emergent misalignment on out-of-domain probes) "
           "and serve it behind a domain gate (`tunewise gate`); it must be redone for every new base model.")


@dataclass
class Recommendation:
    decision: str  # "prompting" | "fine-tune"
    sentence: str
    margin: float  # points
    best_prompting: dict | None
    finetune: dict | None
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def _label(row: dict) -> str:
    return (f"{row['strategy']} on {row['model']}: {100 * row['accuracy']:.1f}% "
            f"[{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]")


def recommend(prompting_rows: list[dict], finetune_row: dict | None, margin_points: float = 2.0) -> Recommendation:
    """Apply ``RULE`` to strategy rows (dicts with model, strategy, accuracy, ci_low, ci_high)."""
    rule = RULE.format(margin=margin_points)
    best = max(prompting_rows, key=lambda r: (r["accuracy"], -r.get("cost_per_1k", 0.0)), default=None)
    if best is None and finetune_row is None:
        return Recommendation("prompting", "Nothing was measured.", margin_points, None, None, rule)
    if finetune_row is None:
        sentence = (f"Prompting: no fine-tune baseline was run; best prompting strategy is {_label(best)}. "
                    "Run with --finetune to compare.")
        return Recommendation("prompting", sentence, margin_points, best, None, rule)
    if best is None:
        return Recommendation("fine-tune", f"Fine-tune: no prompting strategy was run. {CAVEATS}",
                              margin_points, None, finetune_row, rule)
    gap = 100 * (finetune_row["accuracy"] - best["accuracy"])
    overlap = best["ci_high"] >= finetune_row["ci_low"] and finetune_row["ci_high"] >= best["ci_low"]
    if gap <= margin_points or overlap:
        if gap <= margin_points:
            sentence = (f"Prompting: the best prompting strategy ({_label(best)}) is within {margin_points:g} points "
                        f"of the fine-tune ({_label(finetune_row)}).")
        else:
            sentence = (f"Prompting: the best prompting strategy ({_label(best)}) is {gap:.1f} points behind the "
                        f"fine-tune ({_label(finetune_row)}), but their 95% intervals overlap.")
        return Recommendation("prompting", sentence, margin_points, best, finetune_row, rule)
    sentence = (f"Fine-tune: it ({_label(finetune_row)}) beats the best prompting strategy ({_label(best)}) by "
                f"{gap:.1f} points with non-overlapping 95% intervals. {CAVEATS}")
    return Recommendation("fine-tune", sentence, margin_points, best, finetune_row, rule)
