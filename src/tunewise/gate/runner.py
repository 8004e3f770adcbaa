"""``run_gate``: the gate capability end to end, as ``tunewise gate fit|eval`` and ``tunewise run``
both run it: split the in-domain inputs, fit and save the gate, evaluate it against every
out-of-domain set and hard case, record the results.

The in-domain inputs are split three ways: an evaluation share the gate never sees
(``eval_fraction``, saved as ``eval_inputs.json`` so a later ``gate eval`` measures on inputs the
threshold was not tuned on), then, inside ``fit_gate``, the detectors' fit set and the
calibration set (``holdout_fraction``). One split, one set of OOD sources, one rule for related
tasks (``sources.REQUEST_FAMILIES``): the pipeline builds a ``GateConfig`` and calls this.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tunewise.errors import ConfigError
from tunewise.gate.config import GateConfig
from tunewise.gate.evaluate import GateEvaluation, OODSetResult, evaluate_gate
from tunewise.gate.gate import DomainGate, fit_gate
from tunewise.gate.hard_cases import generate_hard_cases
from tunewise.gate.sources import (EvalSet, builtin_dataset, evaluation_sets, file_texts, hard_case_pool,
                                   in_domain_texts)

DEFAULT_RUN_DIR = Path("runs/gate")
GATE_FOLDER = "gate"  # the gate lives in <run_dir>/gate
EVAL_INPUTS = "eval_inputs.json"
EVAL_RESULTS = "eval.json"
HARD_CASES_PER_SET = 60  # generated texts per hard-case set (fewer when n_per_set is smaller)


@dataclass
class GateResult:
    """What ``run_gate`` fitted and measured. ``evaluation`` is None when only ``fit`` ran;
    ``n_eval`` is then the number of inputs kept for a later ``gate eval``."""

    gate_dir: Path
    source: str
    threshold: float
    target_false_reject_rate: float
    n_fit: int
    n_calibration: int
    n_eval: int
    calibration_false_reject_rate: float
    detectors: list[str]
    steps: list[str]
    evaluation: GateEvaluation | None = None
    calibration: str = "holdout"
    false_reject_rate_ci: tuple[float, float] | None = None  # 95% Wilson interval on the calibration scores
    expected_false_reject_rate: float | None = None  # on fresh in-domain inputs (conformal, for cross-fit)
    calibration_warning: str | None = None  # set when the inputs are too few for the target
    embedder: str | None = None  # the sentence embedder the gate was fitted with (GateConfig.embedder)

    @property
    def sets(self) -> list[OODSetResult]:
        """The evaluation per set (AUROC, FPR at 95% TPR, refusal rate, should refuse)."""
        return self.evaluation.results if self.evaluation else []

    @property
    def eval_false_reject_rate(self) -> float | None:
        """Share of the held-out in-domain inputs refused at the threshold (None: not evaluated)."""
        return self.evaluation.false_reject_rate if self.evaluation else None

    def get(self, ood_set: str) -> OODSetResult:
        if self.evaluation is None:
            raise KeyError(f"{ood_set}: the gate was not evaluated (steps: {', '.join(self.steps)})")
        return self.evaluation.get(ood_set)

    def summary(self) -> dict:
        """The result as a record (per-set ROC curves are in the ``gate.eval`` records)."""
        record = {key: value for key, value in asdict(self).items() if key != "evaluation"}
        record["gate_dir"] = str(self.gate_dir)
        record["eval_false_reject_rate"] = self.eval_false_reject_rate
        record["sets"] = [{k: v for k, v in r.to_record().items() if k != "roc"} for r in self.sets]
        return record


def split_inputs(texts: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Distinct texts, shuffled with ``seed``, split into (fit, evaluation). ``seed + 1`` so this
    shuffle is not the one ``fit_gate`` uses for its calibration share."""
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    order = np.random.default_rng(seed + 1).permutation(len(distinct))
    n_eval = int(round(eval_fraction * len(distinct)))
    return [distinct[i] for i in order[n_eval:]], [distinct[i] for i in order[:n_eval]]


def gate_folder(config: GateConfig, run_dir: str | Path | None = None) -> Path:
    """``config.gate_dir`` if given, else ``<run_dir>/gate``."""
    if config.gate_dir:
        return Path(config.gate_dir)
    return (Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR) / GATE_FOLDER


def fit_step(config: GateConfig, gate_dir: Path) -> tuple[DomainGate, list[str]]:
    """Fit a gate on ``config.data``, save it with its evaluation inputs; (gate, evaluation inputs)."""
    from tunewise.registry import DATASETS

    if not config.data:
        raise ConfigError("data: fitting a gate needs in-domain inputs: task:<dataset> (one of "
                          f"{', '.join(DATASETS.names())}), a chat .jsonl or a .txt (--data)")
    texts = in_domain_texts(config.data, n=config.n, seed=config.seed)
    fit_texts, eval_texts = split_inputs(texts, config.eval_fraction, config.seed)
    if not eval_texts:
        raise ConfigError(f"data: {config.data} has {len(fit_texts)} distinct inputs; eval_fraction "
                          f"{config.eval_fraction} keeps none for the evaluation (give more inputs, need at least 12)")
    likelihood = None
    if config.tuned_model and config.base_model:
        from tunewise.gate.likelihood import LikelihoodRatio

        likelihood = LikelihoodRatio.from_refs(config.tuned_model, config.base_model)
    gate = fit_gate(fit_texts, target_false_reject_rate=config.target_false_reject_rate,
                    holdout_fraction=config.holdout_fraction, k=config.k, seed=config.seed, likelihood=likelihood,
                    calibration=config.calibration, folds=config.folds, embedder_name=config.embedder)
    gate.info.update({"source": config.data, "eval_fraction": config.eval_fraction, "n_eval": len(eval_texts)})
    gate.save(gate_dir)
    (gate_dir / EVAL_INPUTS).write_text(json.dumps(eval_texts, indent=0, ensure_ascii=False) + "\n")
    return gate, eval_texts


def saved_eval_inputs(gate_dir: Path) -> list[str]:
    path = gate_dir / EVAL_INPUTS
    if not path.is_file():
        raise ConfigError(f"{path}: missing; give eval_data (--eval-data FILE) with inputs the gate was not fitted on")
    return json.loads(path.read_text())


def eval_step(config: GateConfig, gate: DomainGate, in_domain: list[str], gate_dir: Path, store) -> GateEvaluation:
    """Evaluate ``gate`` on ``in_domain`` against the configured sets and the hard cases; write
    ``eval.json`` beside the gate and one ``gate.eval`` record per set (replacing older ones)."""
    source_dataset = builtin_dataset(str(gate.info.get("source") or config.data or "")) or None
    sets = evaluation_sets(config.ood_sets, source_dataset, config.n_per_set, config.seed)
    if config.hard_cases:
        for case in generate_hard_cases(in_domain, hard_case_pool(), n=min(config.n_per_set, HARD_CASES_PER_SET),
                                        seed=config.seed):
            sets.append(EvalSet(f"hard:{case.name}", case.texts, case.expect_refusal))
    evaluation = evaluate_gate(gate, in_domain, {s.name: s.texts for s in sets},
                               {s.name: s.expect_refusal for s in sets})
    (gate_dir / EVAL_RESULTS).write_text(json.dumps(
        {"n_in_domain": evaluation.n_in_domain, "false_reject_rate": evaluation.false_reject_rate,
         "threshold": evaluation.threshold, "results": [r.to_record() for r in evaluation.results]}, indent=1) + "\n")
    store.delete_records("gate.eval")  # a set dropped from ood_sets must not linger in the report
    evaluation.write_to_store(store)
    return evaluation


def run_gate(config: GateConfig, run_dir: str | Path | None = None, *, store=None) -> GateResult:
    """Run ``config.steps`` (fit, eval) with the gate in ``<run_dir>/gate`` (or ``config.gate_dir``).

    ``run_dir`` defaults to ``runs/gate``; with ``store`` given (the pipeline's) results go there,
    otherwise ``RunStore(run_dir)`` is opened and closed here. Records: ``gate.eval`` per set and
    one ``gate.summary``."""
    from tunewise.runs.store import RunStore

    run_dir = Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR
    gate_dir = gate_folder(config, run_dir)
    own_store = store is None
    store = RunStore(run_dir) if own_store else store
    try:
        if "fit" in config.steps:
            gate, eval_texts = fit_step(config, gate_dir)
        else:
            gate = DomainGate.load(gate_dir, embedder_name=config.embedder)
            eval_texts = saved_eval_inputs(gate_dir) if not config.eval_data else []
        evaluation = None
        if "eval" in config.steps:
            in_domain = file_texts(config.eval_data) if config.eval_data else eval_texts
            evaluation = eval_step(config, gate, in_domain, gate_dir, store)
        info = gate.info
        result = GateResult(
            gate_dir=gate_dir, source=str(info.get("source", config.data or "")), threshold=float(gate.threshold),
            target_false_reject_rate=float(info.get("target_false_reject_rate", config.target_false_reject_rate)),
            n_fit=int(info.get("n_fit", len(gate.knn.reference))),
            n_calibration=int(info.get("n_calibration", info.get("n_holdout", 0))),
            n_eval=evaluation.n_in_domain if evaluation else len(eval_texts),
            calibration_false_reject_rate=float(info.get("calibration_false_reject_rate",
                                                         info.get("holdout_false_reject_rate", float("nan")))),
            detectors=list(gate.normalisation), steps=list(config.steps), evaluation=evaluation,
            calibration=str(info.get("calibration", "holdout")),
            false_reject_rate_ci=tuple(info["false_reject_rate_ci"]) if info.get("false_reject_rate_ci") else None,
            expected_false_reject_rate=info.get("expected_false_reject_rate"),
            calibration_warning=info.get("calibration_warning"), embedder=gate.embedder_name)
        store.put_record("gate.summary", str(gate_dir), result.summary())
        return result
    finally:
        if own_store:
            store.close()
