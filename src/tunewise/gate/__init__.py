"""Keep a tuned model inside its narrow domain: a measured gate and a gateway that enforces it.

* ``fit_gate(texts)`` embeds in-domain inputs (packaged MiniLM), fits a Mahalanobis detector
  (Ledoit-Wolf covariance) and a kNN detector, optionally the tuned-vs-base likelihood ratio,
  and calibrates the threshold on held-out inputs for a target false-reject rate.
* ``evaluate_gate(gate, in_domain, ood_sets)`` gives AUROC / FPR at 95% TPR per set;
  ``generate_hard_cases`` builds the sets that look in-domain but are not.
* ``ServeConfig`` / ``serve`` / ``create_app``: the OpenAI-compatible gateway (``tunewise serve``).
"""

from tunewise.gate.evaluate import GateEvaluation, OODSetResult, evaluate_gate
from tunewise.gate.gate import DomainGate, GateDecision, fit_gate
from tunewise.gate.hard_cases import HardCaseSet, generate_hard_cases
from tunewise.gate.likelihood import LikelihoodRatio
from tunewise.gate.server import ServeConfig, create_app, serve

__all__ = ["DomainGate", "GateDecision", "fit_gate", "evaluate_gate", "GateEvaluation", "OODSetResult",
           "generate_hard_cases", "HardCaseSet", "LikelihoodRatio", "ServeConfig", "create_app", "serve"]
