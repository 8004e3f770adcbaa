"""The run's progress view (ETA arithmetic on plain numbers) and ``tunewise run --dry-run``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tunewise.pipeline import builtin_experiment
from tunewise.pipeline.plan import CostModel, _checkpoint_steps, plan_experiment
from tunewise.train.config import optimizer_steps
from tunewise.pipeline.run import STAGES
from tunewise.progress import MAX_RATIO, RunView, clock, estimate_ratio, run_eta


def test_eta_before_any_stage_is_the_sum_of_estimates():
    assert run_eta([10, 20, 30], [None, None, None], None) == 60


def test_eta_counts_what_is_left_of_the_running_stage():
    assert run_eta([10, 20, 30], [None, None, None], 0, current_elapsed=4) == 6 + 20 + 30
    # a stage past its estimate counts 0, not a negative time
    assert run_eta([10, 20, 30], [None, None, None], 0, current_elapsed=15) == 50


def test_finished_stages_rescale_the_rest():
    # the first stage took twice its estimate: the others are expected to as well
    assert estimate_ratio([10, 20, 30], [20, None, None]) == 2
    assert run_eta([10, 20, 30], [20, None, None], 1, current_elapsed=10) == (40 - 10) + 60
    # stages planned at 0 s (already done) do not count towards the ratio
    assert estimate_ratio([0, 10], [5, None]) == 1
    # one wildly slow stage cannot blow the ETA up beyond MAX_RATIO
    assert run_eta([1, 10], [1000, None], None) == 10 * MAX_RATIO


def test_run_view_line_says_stage_elapsed_and_eta():
    view = RunView("x", ["a", "b", "c"], [10.0, 20.0, 30.0])
    view.start(1)
    line = view.line()
    assert "stage 2/3 b" in line and "elapsed 0:0" in line and "eta 1:00" in line, line  # a never ran: 10 + 20 + 30
    view.finish(1, 40.0)  # twice its estimate: a and c (10 + 30) are expected to take twice theirs
    assert view.eta() == pytest.approx(80.0)
    assert clock(80) == "1:20" and clock(3725) == "1:02:05"


def test_train_steps_and_checkpoints():
    assert optimizer_steps(32, 4, 2, 1, None) == 4
    assert optimizer_steps(33, 4, 2, 2, None) == 10
    assert optimizer_steps(1000, 4, 1, 1, 7) == 7
    assert _checkpoint_steps(5, 2) == [2, 4, 5]


def test_plan_counts_the_quick_demo_and_scales_with_the_cost_model(tmp_path):
    plans = plan_experiment(builtin_experiment("quick"), tmp_path / "run")
    assert [p.stage for p in plans] == list(STAGES)
    assert all(p.status == "will run" and p.estimate_s > 0 and p.work for p in plans), plans
    audit = next(p for p in plans if p.stage == "audit")
    # 3 models x 10 core probes x 2 samples (plain probes only), + the positive control's 10 x 2
    assert "80 answers" in " ".join(audit.work), audit.work
    slower = plan_experiment(builtin_experiment("quick"), tmp_path / "run",
                             cost=CostModel(decode=0.65e10, prefill=3e10, train=0.9e10))
    assert sum(p.estimate_s for p in slower) > 1.5 * sum(p.estimate_s for p in plans)


DRY_RUN = """
import json, sys, time
started = time.perf_counter()
from typer.testing import CliRunner
from tunewise.cli import app
result = CliRunner().invoke(app, ["demo", "--quick", "--dry-run", "--run-dir", sys.argv[1]])
print(json.dumps({"code": result.exit_code, "output": result.output, "wall_s": time.perf_counter() - started,
                  "loaded": sorted(m for m in ("transformers", "peft", "torch") if m in sys.modules)}))
"""


def test_dry_run_prints_every_stage_and_a_total_and_loads_no_model(tmp_path):
    """In a fresh interpreter: neither torch nor transformers is even imported, so no model can
    have been built; it also finishes in seconds."""
    proc = subprocess.run([sys.executable, "-c", DRY_RUN, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=120, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["code"] == 0, out["output"]
    for number, stage in enumerate(STAGES, 1):
        assert f"{number}/6 {stage}" in out["output"], out["output"]
    assert "estimated total" in out["output"]
    assert out["loaded"] == [], out["loaded"]
    assert out["wall_s"] < 30, out["wall_s"]
    assert not (tmp_path / "run").exists()  # a dry run makes no run folder


def test_plan_prefers_this_folders_timings(tmp_path):
    from tunewise.pipeline.run import Pipeline, stage_marker
    from tunewise.runs.store import RunStore

    config = builtin_experiment("quick")
    with RunStore(tmp_path) as store:
        store.put_record("pipeline.stage", "audit", {"stage": "audit", "status": "done", "wall_s": 123.0})
        store.mark_stage_done(stage_marker("gate"),
                              {"wall_s": 4.0, "fingerprint": Pipeline.fingerprint_of(config, "gate")})
    plans = {p.stage: p for p in plan_experiment(config, tmp_path)}
    assert (plans["audit"].estimate_s, plans["audit"].source) == (123.0, "previous run in this folder")
    assert plans["gate"].status == "already done" and plans["gate"].estimate_s == 0
    assert plans["train"].source == "cost model"
    started = time.perf_counter()
    redo = {p.stage: p for p in plan_experiment(config, tmp_path, from_stage="gate")}
    assert redo["gate"].status == "will run" and time.perf_counter() - started < 30
