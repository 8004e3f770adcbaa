"""The gate stage end to end, as the CLI and the pipeline run it: split the in-domain inputs,
fit and save the gate, then evaluate it against every out-of-domain source and hard case.

The in-domain inputs are split three ways: the detectors' fit set and the calibration set
(inside ``fit_gate``), and an evaluation set the gate never sees, saved beside the gate as
``eval_inputs.json`` so ``gate eval`` measures on inputs the threshold was not tuned on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tunewise.gate.evaluate import GateEvaluation, evaluate_gate
from tunewise.gate.gate import DomainGate, fit_gate
from tunewise.gate.hard_cases import generate_hard_cases
from tunewise.gate.likelihood import LikelihoodRatio
from tunewise.gate.sources import SAME_REQUESTS, builtin_ood_sets, file_texts, in_domain_texts

EVAL_INPUTS = "eval_inputs.json"
EVAL_RESULTS = "eval.json"


def split_inputs(texts: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Distinct texts, shuffled with ``seed``, split into (fit, evaluation)."""
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    order = np.random.default_rng(seed + 1).permutation(len(distinct))
    n_eval = int(round(eval_fraction * len(distinct)))
    return [distinct[i] for i in order[n_eval:]], [distinct[i] for i in order[:n_eval]]


def fit_gate_from_source(source: str, out_dir: str | Path, n: int | None = None, eval_fraction: float = 0.2,
                         target_false_reject_rate: float = 0.01, k: int = 5, seed: int = 0,
                         tuned_model: str | None = None, base_model: str | None = None) -> DomainGate:
    """Fit a gate on ``source`` (``task:<name>`` or a chat JSONL / text file) and save it to
    ``out_dir`` with the held-out evaluation inputs. ``tuned_model`` + ``base_model`` add the
    likelihood-ratio signal."""
    texts = in_domain_texts(source, n=n, seed=seed)
    fit_texts, eval_texts = split_inputs(texts, eval_fraction, seed)
    likelihood = LikelihoodRatio.from_refs(tuned_model, base_model) if tuned_model and base_model else None
    gate = fit_gate(fit_texts, target_false_reject_rate=target_false_reject_rate, k=k, seed=seed,
                    likelihood=likelihood)
    gate.info["source"] = source
    out_dir = Path(out_dir)
    gate.save(out_dir)
    (out_dir / EVAL_INPUTS).write_text(json.dumps(eval_texts, indent=0, ensure_ascii=False) + "\n")
    return gate


def evaluate_gate_dir(gate_dir: str | Path, in_domain_file: str | None = None, ood_files: list[str] = (),
                      builtin: bool = True, hard_cases: bool = True, n_per_set: int = 200, seed: int = 0,
                      store=None) -> GateEvaluation:
    """Evaluate a saved gate on its held-out inputs (or ``in_domain_file``) against the built-in
    out-of-domain sets, the user's files and the hard cases; save ``eval.json`` beside the gate
    and, with a ``store``, one ``gate.eval`` record per set."""
    gate_dir = Path(gate_dir)
    gate = DomainGate.load(gate_dir)
    if in_domain_file:
        in_domain = file_texts(in_domain_file)
    else:
        from tunewise.errors import ConfigError

        path = gate_dir / EVAL_INPUTS
        if not path.is_file():
            raise ConfigError(f"{path}: missing; pass --in-domain FILE with inputs the gate was not fitted on")
        in_domain = json.loads(path.read_text())
    source = str(gate.info.get("source", ""))
    source_task = source[5:] if source.startswith("task:") else None
    sets: dict[str, list[str]] = {}
    expect: dict[str, bool] = {}
    if builtin:
        sets.update(builtin_ood_sets(exclude_task=source_task, n_per_task=n_per_set, seed=seed))
        if source_task in SAME_REQUESTS:
            expect[f"task:{SAME_REQUESTS[source_task]}"] = False  # same requests, other answers
    for path in ood_files:
        sets[f"file:{Path(path).name}"] = file_texts(path)[:n_per_set]
    if hard_cases:
        off_domain = [t for name, texts in sets.items() if name.startswith("probes:") for t in texts]
        for case in generate_hard_cases(in_domain, off_domain or None, n=min(n_per_set, 60), seed=seed):
            sets[f"hard:{case.name}"] = case.texts
            expect[f"hard:{case.name}"] = case.expect_refusal
    evaluation = evaluate_gate(gate, in_domain, sets, expect)
    (gate_dir / EVAL_RESULTS).write_text(json.dumps(
        {"n_in_domain": evaluation.n_in_domain, "false_reject_rate": evaluation.false_reject_rate,
         "threshold": evaluation.threshold, "results": [r.to_record() for r in evaluation.results]}, indent=1) + "\n")
    if store is not None:
        evaluation.write_to_store(store)
    return evaluation
