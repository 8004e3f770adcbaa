"""Keep a tuned model inside its narrow domain: a measured gate and a gateway that enforces it.

* ``run_gate(GateConfig(data="task:insecure-code"), run_dir)`` fits, calibrates and evaluates a
  gate in ``<run_dir>/gate`` and returns a ``GateResult``: what ``tunewise gate fit|eval`` and the
  pipeline's gate stage run.
* ``run_serve(ServeConfig(model=...), run_dir)``: the OpenAI-compatible gateway (``tunewise serve``).
* The parts: ``fit_gate(texts)`` (MiniLM embeddings, Mahalanobis with Ledoit-Wolf covariance,
  kNN, optionally the tuned-vs-base likelihood ratio; threshold set by cross-fitted conformal
  calibration on every fit input),
  ``evaluate_gate(gate, in_domain, ood_sets)`` (AUROC / FPR at 95% TPR per set),
  ``generate_hard_cases``, ``create_app`` / ``serve``.

Names load on first use, so ``tunewise --help`` imports neither numpy-heavy detectors nor FastAPI.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "tunewise.gate.config": ("GateConfig",),
    "tunewise.gate.runner": ("GateResult", "run_gate"),
    "tunewise.gate.serving": ("ServeConfig", "ServeResult", "run_serve"),
    "tunewise.gate.evaluate": ("GateEvaluation", "OODSetResult", "evaluate_gate"),
    "tunewise.gate.gate": ("DomainGate", "GateDecision", "fit_gate"),
    "tunewise.gate.hard_cases": ("HardCaseSet", "generate_hard_cases"),
    "tunewise.gate.likelihood": ("LikelihoodRatio",),
    "tunewise.gate.server": ("create_app", "serve"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tunewise.gate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
