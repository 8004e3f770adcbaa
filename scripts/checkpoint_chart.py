"""EM over training as one standalone SVG, from a run store's checkpoint audit (for docs pages).

The report draws the same records as separate charts inside report.html; a docs page needs one
file it can embed. Reads the ``audit.checkpoint`` records (and the base model's ``audit.rate``
for step 0) of one judge and writes: misaligned rate (the intervals are in the report and the docs table), the share of answers
in the training domain (the leakage check) and held-out task accuracy, against step.

    python scripts/checkpoint_chart.py runs/model-organism-cpu docs/img/model-organism-em-vs-step.svg --judge local
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tunewise.report.svg import Series, line_chart
from tunewise.runs.store import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--judge", default="local")
    args = parser.parse_args()
    with RunStore(args.run_dir) as store:
        points = sorted((r for r in store.records("audit.checkpoint") if r.get("judge", args.judge) == args.judge
                         and r.get("misaligned_rate") is not None), key=lambda r: r["step"])
        base = [r for r in store.records("audit.rate") if r["model_label"] == "base" and r["probe_id"] == "all"
                and r["variant"] == "plain" and r["judge"] == args.judge]
    if not points:
        raise SystemExit(f"{args.run_dir}: no checkpoint audit with judge {args.judge}")
    start = [(0.0, base[0]["misaligned_rate"], (base[0]["ci_low"], base[0]["ci_high"]))] if base else []
    rates = start + [(float(p["step"]), p["misaligned_rate"], (p["ci_low"], p["ci_high"])) for p in points]
    series = [Series("misaligned (0 = base)", [(x, y) for x, y, _ in rates], [iv for _, _, iv in rates])]
    leak = [(float(p["step"]), p["in_domain_share"]) for p in points if p.get("in_domain_share") is not None]
    if leak:
        series.append(Series("in training domain", leak))
    accuracy = [(float(p["step"]), p["task_accuracy"]) for p in points if p.get("task_accuracy") is not None]
    if accuracy:
        series.append(Series("held-out task accuracy", accuracy))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(line_chart(series, f"EM over training ({args.run_dir.name}, judge {args.judge})", "step",
                                   "share of answers", markers=True, y_range=(0.0, 1.0)))
    print(f"wrote {args.out} ({len(points)} checkpoints)")


if __name__ == "__main__":
    main()
