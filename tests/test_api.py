"""The Python API: one import per capability from `tunewise`, and importing it stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import tunewise

CAPABILITIES = ("assess", "train", "audit", "persona", "gate", "serve", "report")


def test_every_capability_is_one_import_from_tunewise():
    for capability in CAPABILITIES:
        name = capability.capitalize()
        config, run = getattr(tunewise, f"{name}Config"), getattr(tunewise, f"run_{capability}")
        parameters = list(inspect.signature(run).parameters.values())
        assert parameters[0].name == "config" and parameters[1].name == "run_dir", capability
        assert parameters[1].default is None and issubclass(config, tunewise.config.CapabilityConfig)
        if capability != "serve":  # serve runs until stopped
            assert getattr(tunewise, f"{name}Result") is not None
    assert set(dir(tunewise)) >= {"run_experiment", "ExperimentConfig", "AuditConfig"}


def test_importing_tunewise_and_its_cli_does_not_load_torch():
    code = "import tunewise, tunewise.cli, sys; print('torch' in sys.modules, 'fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
