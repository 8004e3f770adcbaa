"""Where the demo's time goes: per-stage wall time of ``tunewise demo --quick`` (or the full demo).

Runs the built-in experiment into a fresh run folder (or reads a finished one with ``--show``)
and prints one row per stage from the run store's ``pipeline.stage`` records, with the share of
the total, the machine's CPU flags and the load average before and after: a figure measured on
a busy machine says so beside itself. A regression shows as a stage whose share grows.

    OMP_NUM_THREADS=2 nice python benchmarks/demo_stages.py --quick --run-dir /tmp/demo-quick
    python benchmarks/demo_stages.py --show --run-dir runs/demo-quick   # a run already made
    # one stage again, on a copy of a finished run with that stage's stored work wiped (the
    # before/after comparison of a change to that stage, run back to back on the same inputs):
    python benchmarks/demo_stages.py --quick --redo audit persona --from-run /tmp/demo-quick --run-dir /tmp/redo
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from machine import cpu_flags, load_average


def stage_rows(run_dir: Path) -> list[dict]:
    from tunewise.runs.store import RunStore

    with RunStore(run_dir) as store:
        return store.records("pipeline.stage")


def print_table(rows: list[dict], total: float | None = None) -> None:
    timed = [r for r in rows if r.get("wall_s")]
    total = total or sum(r["wall_s"] for r in timed) or 1.0
    print(f"{'stage':<10} {'status':<14} {'wall s':>8} {'share':>7}")
    for r in rows:
        wall = r.get("wall_s") or 0.0
        print(f"{r['stage']:<10} {str(r.get('status')):<14} {wall:>8.1f} {100 * wall / total:>6.1f}%")
    print(f"{'total':<10} {'':<14} {total:>8.1f}  ({total / 60:.1f} min)")


# What each stage stores, by the store's stage / record-kind prefixes: wiped so the stage redoes its work.
STAGE_WORK = {"audit": ("audit",), "persona": ("persona",), "gate": ("gate",), "assess": ("assess",),
              "train": ("train",), "report": ("report",)}


def wipe_stage_work(run_dir: Path, stages: list[str]) -> None:
    """Delete the stages' stored answers, judgments of those answers, records and marks, so a
    re-run samples and judges again instead of reading the store."""
    import sqlite3

    db = sqlite3.connect(run_dir / "tunewise.sqlite")
    for stage in stages:
        for prefix in STAGE_WORK[stage]:
            like = (prefix, f"{prefix}.%", f"{prefix}:%")
            keys = "SELECT key FROM generations WHERE stage=? OR stage LIKE ? OR stage LIKE ?"
            db.execute(f"DELETE FROM judgments WHERE generation_key IN ({keys})", like)
            db.execute("DELETE FROM generations WHERE stage=? OR stage LIKE ? OR stage LIKE ?", like)
            db.execute("DELETE FROM records WHERE kind=? OR kind LIKE ? OR kind LIKE ?", like)
            db.execute("DELETE FROM stages WHERE stage=? OR stage LIKE ? OR stage LIKE ?", like)
        db.execute("DELETE FROM stages WHERE stage=?", (f"pipeline:{stage}",))
    db.commit()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick demo (SmolLM2-135M) instead of the full one")
    parser.add_argument("--run-dir", type=Path, default=None, help="run folder (default /tmp/tunewise-demo-stages)")
    parser.add_argument("--show", action="store_true", help="print the table of a finished run; run nothing")
    parser.add_argument("--redo", nargs="+", default=None, help="only these stages, on a copy of --from-run with "
                                                               "their stored work wiped")
    parser.add_argument("--from-run", type=Path, default=None, help="a finished run folder (for --redo)")
    args = parser.parse_args()
    run_dir = args.run_dir or Path("/tmp/tunewise-demo-stages")
    print(f"cpu flags: {cpu_flags()}; cores: {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    if args.show:
        print_table(stage_rows(run_dir))
        return
    from tunewise.pipeline import builtin_experiment
    from tunewise.pipeline.run import Pipeline

    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: a resumed one would skip finished stages
    if args.redo:
        shutil.copytree(args.from_run, run_dir)
        wipe_stage_work(run_dir, args.redo)
    print(f"load average before: {load_average()}")
    started = time.perf_counter()
    Pipeline(builtin_experiment("quick" if args.quick else "demo"), run_dir).run(only=args.redo)
    total = time.perf_counter() - started
    print(f"load average after: {load_average()}")
    rows = stage_rows(run_dir)
    print_table([r for r in rows if not args.redo or r["stage"] in args.redo], total)


if __name__ == "__main__":
    main()
