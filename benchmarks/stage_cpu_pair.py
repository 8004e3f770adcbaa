"""Before/after of one demo stage, side by side: process CPU seconds of two source trees run at once.

On a shared machine wall time moves with the load; two runs started together see the same load,
and their CPU seconds (user + system, from the kernel's accounting of each child) change much
less with it. Each side redoes the stage on its own copy of a finished run (``demo_stages.py
--redo``), so both read the same inputs; the "before" side imports tunewise from ``--before-src``
(for instance ``git archive HEAD src | tar -x -C /tmp/before``), the "after" side from this
checkout. Pass ``OMP_NUM_THREADS=1`` so that the two sides do not fight over thread pools.

    OMP_NUM_THREADS=1 python benchmarks/stage_cpu_pair.py persona --before-src /tmp/before/src \\
        --from-run /tmp/demo-quick --quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_flags, load_average

HERE = Path(__file__).resolve().parent


def _start(stage: str, src: Path | None, from_run: Path, run_dir: Path, quick: bool, log: Path):
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(src)
    command = [sys.executable, str(HERE / "demo_stages.py"), *(["--quick"] if quick else []), "--redo", stage,
               "--from-run", str(from_run), "--run-dir", str(run_dir)]
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", help="the stage to redo (assess, audit, persona, gate)")
    parser.add_argument("--before-src", type=Path, required=True, help="a src/ folder holding the old tunewise")
    parser.add_argument("--from-run", type=Path, required=True, help="a finished run folder of the same demo")
    parser.add_argument("--quick", action="store_true", help="the quick demo's experiment (else the full demo's)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/stage-cpu-pair"), help="run copies and logs go here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"cpu flags: {cpu_flags()}; cores: {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"load average before: {load_average()}")
    sides = {"before": args.before_src.resolve(), "after": None}
    started = time.perf_counter()
    running = {_start(args.stage, src, args.from_run, args.work / f"run-{name}", args.quick,
                      args.work / f"{name}.log").pid: name for name, src in sides.items()}
    usage: dict[str, tuple[float, float, int]] = {}
    while running:
        pid, status, rusage = os.wait4(-1, 0)
        if pid in running:
            usage[running.pop(pid)] = (rusage.ru_utime + rusage.ru_stime, time.perf_counter() - started,
                                       os.waitstatus_to_exitcode(status))
    print(f"load average after: {load_average()}")
    print(f"{'side':<8} {'cpu s':>8} {'wall s':>8}  exit")
    for name in sides:
        cpu, wall, code = usage[name]
        print(f"{name:<8} {cpu:>8.1f} {wall:>8.1f}  {code}   (log {args.work / f'{name}.log'})")
    print(f"after / before CPU: {usage['after'][0] / usage['before'][0]:.2f}")


if __name__ == "__main__":
    main()
