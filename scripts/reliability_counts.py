"""Print, per loader of user files, how many hostile inputs were tried and how many were handled
(loaded, or a clear error naming the file) - the counts issue 19 asks for.

    .venv/bin/python scripts/reliability_counts.py [--cases 200] [--seed 0]

Deterministic for a seed; an unhandled case prints its input's repr so it can be turned into a test.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from tunewise.hostile import LOADERS, check_loader, hostile_text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200, help="inputs per loader")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    total_tried = total_handled = 0
    print(f"{'loader':<20} {'tried':>6} {'handled':>8} {'slowest s':>10}")
    for name in LOADERS:
        rng = random.Random(f"{args.seed}:{name}")
        tried = handled = 0
        slowest = 0.0
        with tempfile.TemporaryDirectory() as folder:
            for case in range(args.cases):
                text = hostile_text(rng, pieces=rng.randrange(1, 6))
                outcome = check_loader(name, Path(folder), text, latin1=case % 10 == 9)
                tried += 1
                handled += outcome.handled
                slowest = max(slowest, outcome.seconds)
                if not outcome.handled:
                    print(f"  UNHANDLED {name}: {outcome.detail} <- {text[:120]!r}")
        print(f"{name:<20} {tried:>6} {handled:>8} {slowest:>10.2f}")
        total_tried, total_handled = total_tried + tried, total_handled + handled
    print(f"{'all loaders':<20} {total_tried:>6} {total_handled:>8}")


if __name__ == "__main__":
    main()
