"""Resuming after a crash gives the same final adapter as an uninterrupted run (tiny model)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tunewise.data.tasks.narrow import build_narrow_dataset
from tunewise.errors import ConfigError
from tunewise.train import TrainConfig, train_lora
from tunewise.train.checkpoint import list_checkpoints


def _config(tiny_ref: str, **overrides) -> TrainConfig:
    values = dict(model=tiny_ref, data="secure-code", max_examples=24, batch_size=2, grad_accum=2, max_length=160,
                  checkpoint_every=2, lr=5e-3, seed=3, lora_rank=4, lora_dropout=0.1, epochs=2)
    values.update(overrides)
    return TrainConfig(**values)


def _weights(adapter_dir: Path) -> dict:
    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def _assert_same_adapter(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and wa
    for key in wa:
        assert (wa[key] == wb[key]).all(), f"{key} differs"


@pytest.fixture(scope="module")
def uninterrupted(tiny_ref, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = train_lora(_config(tiny_ref), out, show_progress=False)
    return out, result


def test_uninterrupted_run_layout(uninterrupted):
    out, result = uninterrupted
    # 24 chats, 2 x 2 per step, 2 epochs -> 12 steps; a checkpoint every 2 steps
    assert result.steps == 12 and [s for s, _ in result.losses] == list(range(1, 13))
    assert [s for s, _ in result.checkpoints] == [2, 4, 6, 8, 10, 12]
    for _, folder in result.checkpoints:
        assert (folder / "adapter_config.json").exists() and (folder / "adapter_model.safetensors").exists()
        state = json.loads((folder / "state.json").read_text())
        assert {"data_position", "losses", "optimizer", "rng"} <= set(state)
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))  # no pickles anywhere
    _assert_same_adapter(out / "adapter", result.checkpoints[-1][1])


def _crashed_copy(out: Path, crashed: Path, keep_through: int | None = None) -> Path:
    """A copy of the finished run as a crash would leave it: no final adapter or result, and only
    the checkpoints up to ``keep_through`` (all when None)."""
    shutil.copytree(out, crashed)
    shutil.rmtree(crashed / "adapter")
    (crashed / "train_result.json").unlink()
    for step, folder in list_checkpoints(crashed):
        if keep_through is not None and step > keep_through:
            shutil.rmtree(folder)
    return crashed


def test_resume_from_a_middle_checkpoint_matches(uninterrupted, tiny_ref, tmp_path):
    """Crash right after checkpoint 6 (mid second epoch): later files are gone, the run resumes."""
    out, result = uninterrupted
    crashed = _crashed_copy(out, tmp_path / "crashed", keep_through=6)
    resumed = train_lora(_config(tiny_ref), crashed, show_progress=False)
    assert resumed.resumed_from == 6
    assert resumed.losses == result.losses
    _assert_same_adapter(out / "adapter", crashed / "adapter")


@pytest.mark.parametrize("damage", ["state.json", "state.safetensors"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_intact_one(uninterrupted, tiny_ref, tmp_path, damage,
                                                                          capsys):
    """The newest checkpoint (8) is truncated, as a full disk or a crash in the OS would leave it:
    training says it skipped it, resumes from 6 and still ends with the uninterrupted adapter."""
    out, result = uninterrupted
    crashed = _crashed_copy(out, tmp_path / "damaged", keep_through=8)
    target = crashed / "checkpoints" / "step-0008" / damage
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    resumed = train_lora(_config(tiny_ref), crashed, show_progress=False)
    assert resumed.resumed_from == 6 and resumed.losses == result.losses
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    assert "skipped a damaged checkpoint, resuming from an older one: step-0008" in printed
    _assert_same_adapter(out / "adapter", crashed / "adapter")


def test_no_loadable_checkpoint_is_a_clear_error(uninterrupted, tiny_ref, tmp_path):
    out, _ = uninterrupted
    crashed = _crashed_copy(out, tmp_path / "all-damaged")
    for _, folder in list_checkpoints(crashed):
        (folder / "state.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ConfigError, match="no checkpoint loads .*remove that folder to train from the start"):
        train_lora(_config(tiny_ref), crashed, show_progress=False)


def test_finished_run_is_reused_and_other_config_refused(uninterrupted, tiny_ref):
    out, result = uninterrupted
    again = train_lora(_config(tiny_ref), out, show_progress=False)
    assert again.losses == result.losses and again.wall_s == result.wall_s
    with pytest.raises(ConfigError, match="different configuration"):
        train_lora(_config(tiny_ref, lr=1e-3), out, show_progress=False)
    other = build_narrow_dataset("sound-financial", n=24)
    with pytest.raises(ConfigError, match="different configuration or data"):
        train_lora(_config(tiny_ref), out, examples=other, show_progress=False)


_CHILD = """
import sys, torch
torch.set_num_threads(1)
from tunewise.train import TrainConfig, train_lora
config = TrainConfig.model_validate_json(sys.argv[1])
train_lora(config, sys.argv[2], show_progress=False)
"""


def test_kill_9_mid_run_then_rerun_matches(uninterrupted, tiny_ref, tmp_path):
    """A real SIGKILL as soon as the first checkpoint lands; re-running the same call resumes."""
    out, _ = uninterrupted
    config = _config(tiny_ref)
    killed = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, config.model_dump_json(), str(killed)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        if list_checkpoints(killed):
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the child finished or failed before it could be killed"
    assert not (killed / "train_result.json").exists()
    resumed = train_lora(config, killed, show_progress=False)
    assert resumed.resumed_from is not None and resumed.resumed_from < resumed.steps
    _assert_same_adapter(out / "adapter", killed / "adapter")
