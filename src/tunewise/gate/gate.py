"""The domain gate: fit on a task's inputs, calibrate a threshold, decide per input, save/load.

A gate combines detectors by standardising each detector's score against the calibration
scores of in-domain inputs (median and spread; out-of-fold scores of every fit input by
default, or a held-out share) and averaging: detectors live on different scales (squared
distances in the hundreds, cosine distances below 1, log-prob differences), and those inputs
are exactly the population whose false-reject rate we calibrate.

The artifact is ``gate.json`` (everything a person may want to read) plus ``gate.npz``
(arrays, loaded with ``allow_pickle=False``): never pickle.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tunewise.errors import ConfigError, DataValidationError
from tunewise.gate.detectors import KNNDetector, MahalanobisDetector
from tunewise.gate.likelihood import LikelihoodRatio
from tunewise.gate.metrics import threshold_for_false_reject_rate

FORMAT_VERSION = 1
LEGACY_EMBEDDER = "all-MiniLM-L6-v2 (packaged, L2-normalised)"  # what gates before the setting recorded
Embedder = Callable[[list[str]], np.ndarray]


class LazyEmbedder:
    """The embedder called ``name`` (``embedders.py``), loaded on the first call, so loading a
    gate to read its settings builds no model."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, texts: list[str]) -> np.ndarray:
        from tunewise.gate.embedders import get_embedder

        return get_embedder(self.name)(texts)


@dataclass
class GateDecision:
    """One input's verdict: ``score`` is the combined standardised score, ``detectors`` the raw
    score of each detector (logged by the gateway so a refusal can be explained later)."""

    allowed: bool
    score: float
    threshold: float
    detectors: dict[str, float]


@dataclass
class DomainGate:
    """A fitted, calibrated gate. Build with ``fit_gate``; ``score`` / ``decide`` / ``allows``
    answer per input; ``save``/``load`` round-trip the artifact."""

    mahalanobis: MahalanobisDetector
    knn: KNNDetector
    normalisation: dict[str, tuple[float, float]]  # detector -> (centre, scale) on held-out in-domain
    threshold: float
    info: dict = field(default_factory=dict)
    likelihood: LikelihoodRatio | None = None
    embedder: Embedder = field(default_factory=lambda: LazyEmbedder("minilm"), repr=False)
    embedder_name: str = "minilm"  # which embedder the detectors were fitted on (embedders.EMBEDDER_NAMES)

    # -- scoring -------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder(list(texts))

    def detector_scores(self, texts: list[str], embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Raw score of each detector for each text (higher = further from the domain)."""
        embeddings = self.embed(texts) if embeddings is None else embeddings
        scores = {"mahalanobis": self.mahalanobis.score(embeddings), "knn": self.knn.score(embeddings)}
        if self.likelihood is not None:
            scores["likelihood_ratio"] = self.likelihood.score(list(texts))
        return scores

    def combine(self, detector_scores: dict[str, np.ndarray]) -> np.ndarray:
        """Average of the detectors' standardised scores: the number the threshold applies to."""
        standardised = [(detector_scores[name] - centre) / scale
                        for name, (centre, scale) in self.normalisation.items()]
        return np.mean(standardised, axis=0)

    def score(self, texts: list[str]) -> np.ndarray:
        """Combined score per text; above ``threshold`` means out of domain."""
        if not texts:
            return np.zeros(0)
        return self.combine(self.detector_scores(texts))

    def decide(self, texts: list[str], embeddings: np.ndarray | None = None) -> list[GateDecision]:
        if not texts:
            return []
        raw = self.detector_scores(texts, embeddings)
        combined = self.combine(raw)
        return [GateDecision(allowed=bool(combined[i] <= self.threshold), score=float(combined[i]),
                             threshold=self.threshold, detectors={k: float(v[i]) for k, v in raw.items()})
                for i in range(len(texts))]

    def allows(self, text: str) -> bool:
        return self.decide([text])[0].allowed

    # -- artifact ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / "gate.npz", mahalanobis_mean=self.mahalanobis.mean,
                 mahalanobis_precision=self.mahalanobis.precision, knn_reference=self.knn.reference)
        meta = {
            "format_version": FORMAT_VERSION,
            "embedder": self.embedder_name,
            "threshold": self.threshold,
            "normalisation": {name: list(values) for name, values in self.normalisation.items()},
            "mahalanobis_shrinkage": self.mahalanobis.shrinkage,
            "knn_k": self.knn.k,
            "likelihood_ratio": ({"tuned": self.likelihood.tuned_ref, "base": self.likelihood.base_ref}
                                 if self.likelihood is not None else None),
            **{key: value for key, value in self.info.items()},
        }
        (directory / "gate.json").write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path, likelihood: LikelihoodRatio | None = None,
             embedder: Embedder | None = None, embedder_name: str | None = None) -> "DomainGate":
        """Load a saved gate. A gate fitted with the likelihood-ratio signal reloads both models
        from the saved references unless ``likelihood`` is given.

        The gate embeds with the embedder it was fitted with (``gate.json`` "embedder"; gates
        from before the setting: ``minilm``). Its thresholds are distances in that embedder's
        space, so ``embedder_name`` naming another one, or packaged weights whose hash differs
        from the recorded ``embedder_source_sha256``, is refused: refit the gate."""
        directory = Path(directory)
        json_path, npz_path = directory / "gate.json", directory / "gate.npz"
        for path in (json_path, npz_path):
            if not path.is_file():
                raise ConfigError(f"{path}: missing; a gate folder holds gate.json and gate.npz "
                                  "(make one with `tunewise gate fit`)")
        try:
            meta = json.loads(json_path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{json_path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
        for key in ("format_version", "threshold", "normalisation", "knn_k", "mahalanobis_shrinkage"):
            if key not in meta:
                raise ConfigError(f"{json_path}: field {key!r} is missing")
        if meta["format_version"] != FORMAT_VERSION:
            raise ConfigError(f"{json_path}: format_version {meta['format_version']} is not supported "
                              f"(this tunewise reads {FORMAT_VERSION}); refit the gate")
        with np.load(npz_path, allow_pickle=False) as arrays:
            mahalanobis = MahalanobisDetector(arrays["mahalanobis_mean"], arrays["mahalanobis_precision"],
                                              float(meta["mahalanobis_shrinkage"]))
            knn = KNNDetector(arrays["knn_reference"], int(meta["knn_k"]))
        refs = meta.get("likelihood_ratio")
        if refs and likelihood is None:
            likelihood = LikelihoodRatio.from_refs(refs["tuned"], refs["base"])
        recorded = str(meta.get("embedder") or "minilm")
        recorded = "minilm" if recorded == LEGACY_EMBEDDER else recorded
        _check_embedder(json_path, recorded, embedder_name, meta.get("embedder_source_sha256"), embedder)
        known = {"format_version", "embedder", "threshold", "normalisation", "mahalanobis_shrinkage", "knn_k",
                 "likelihood_ratio"}
        return cls(mahalanobis=mahalanobis, knn=knn,
                   normalisation={k: (float(v[0]), float(v[1])) for k, v in meta["normalisation"].items()},
                   threshold=float(meta["threshold"]), info={k: v for k, v in meta.items() if k not in known},
                   likelihood=likelihood, embedder=embedder or LazyEmbedder(recorded), embedder_name=recorded)


def _check_embedder(json_path: Path, recorded: str, wanted: str | None, source: str | None, given) -> None:
    from tunewise.gate.embedders import EMBEDDER_NAMES, source_sha256

    if recorded not in EMBEDDER_NAMES:
        raise ConfigError(f"{json_path}: field 'embedder': {recorded!r} is not an embedder this tunewise has "
                          f"({', '.join(EMBEDDER_NAMES)}); refit the gate")
    if wanted is not None and wanted != recorded:
        raise ConfigError(f"{json_path}: this gate was fitted with embedder {recorded!r}, not {wanted!r}; its "
                          f"thresholds only hold in that embedder's space: refit it with --embedder {wanted} or "
                          f"use --embedder {recorded}")
    if source and given is None and source != source_sha256():
        raise ConfigError(f"{json_path}: field 'embedder_source_sha256': the gate was fitted on other MiniLM "
                          "weights than the packaged ones installed now; refit the gate")


class CalibrationWarning(UserWarning):
    """The in-domain inputs are too few to hold the target false-reject rate reliably."""


def conformal_threshold(scores: np.ndarray, target: float) -> tuple[float, float]:
    """(threshold, expected false-reject rate) by split-conformal calibration.

    With ``n`` exchangeable in-domain scores, rejecting above the ``ceil((n + 1)(1 - target))``-th
    smallest rejects a fresh in-domain input with probability ``1 - rank / (n + 1)`` <= target
    (Vovk et al.; Angelopoulos & Bates 2021). When ``rank > n`` no finite threshold holds the
    target; the largest score is used and the expected rate is then ``1 / (n + 1)``."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = ordered.size
    if n == 0:
        raise ConfigError("cannot calibrate a threshold on zero in-domain scores")
    rank = int(np.ceil((n + 1) * (1.0 - target)))
    rank = min(max(rank, 1), n)
    return float(ordered[rank - 1]), 1.0 - rank / (n + 1)


def inputs_needed(target: float, slack: float = 2.0) -> int:
    """Fewest calibration inputs for which the 95% Wilson interval of a rate measured at
    ``target`` stays below ``slack * target`` (the warning's advice)."""
    from tunewise.stats import wilson_interval

    n = 10
    while wilson_interval(target * n, n)[1] > slack * target and n < 10_000_000:
        n = int(n * 1.25) + 1
    return n


def fit_gate(texts: list[str], target_false_reject_rate: float = 0.01, holdout_fraction: float = 0.2,
             k: int = 5, seed: int = 0, likelihood: LikelihoodRatio | None = None,
             embedder: Embedder | None = None, calibration: str = "cross-fit", folds: int = 5,
             embedder_name: str | None = None) -> DomainGate:
    """Fit a domain gate on in-domain inputs (e.g. the user messages of the training set).

    ``calibration="cross-fit"`` (default) uses every input twice over: the inputs are split into
    ``folds``; each fold is scored by detectors fitted on the others, so every input gets an
    out-of-fold score; the threshold is the split-conformal quantile of those ``n`` scores for
    ``target_false_reject_rate`` (default 1%: a gate that refuses real users is worse than none),
    and the saved detectors are then fitted on all inputs (fitted on more data, they score fresh
    in-domain inputs slightly lower: the rate errs low). ``calibration="holdout"`` is the older
    rule: ``holdout_fraction`` of the inputs is held out of the detectors and the threshold set on
    it alone. Either way the out-of-fold (or held-out) scores also standardise the detectors
    (module docstring), and ``gate.info`` records the measured rate with its 95% Wilson interval;
    a ``CalibrationWarning`` says when the inputs are too few for the target.

    Pass ``likelihood`` (tuned vs base model) to add the likelihood-ratio signal. The texts are
    embedded by ``embedder_name`` (``embedders.DEFAULT_EMBEDDER`` if None), recorded in the gate;
    an ``embedder`` callable (tests, benchmarks) is used as given and recorded as ``embedder_name``.
    """
    distinct = list(dict.fromkeys(t for t in texts if isinstance(t, str) and t.strip()))
    if len(distinct) < 10:
        raise DataValidationError(f"fit_gate needs at least 10 distinct non-empty in-domain texts, "
                                  f"got {len(distinct)} (from {len(texts)} given)")
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    if calibration not in ("cross-fit", "holdout"):
        raise ConfigError(f"calibration must be cross-fit or holdout, got {calibration!r}")
    if calibration == "cross-fit" and not 2 <= folds <= len(distinct):
        raise ConfigError(f"folds must be in [2, {len(distinct)}] for {len(distinct)} inputs, got {folds}")
    order = np.random.default_rng(seed).permutation(len(distinct))
    started = time.perf_counter()
    from tunewise.gate.embedders import DEFAULT_EMBEDDER, check_embedder_name, source_sha256

    embedder_name = check_embedder_name(embedder_name or getattr(embedder, "name", None) or DEFAULT_EMBEDDER)
    embed = embedder or LazyEmbedder(embedder_name)

    def detectors_on(embeddings: np.ndarray) -> DomainGate:
        return DomainGate(mahalanobis=MahalanobisDetector.fit(embeddings), knn=KNNDetector.fit(embeddings, k),
                          normalisation={}, threshold=0.0, likelihood=likelihood, embedder=embed,
                          embedder_name=embedder_name)

    if calibration == "holdout":
        n_holdout = max(1, int(round(holdout_fraction * len(distinct))))
        holdout = [distinct[i] for i in order[:n_holdout]]
        fit_texts = [distinct[i] for i in order[n_holdout:]]
        embeddings = embed(fit_texts + holdout)
        gate = detectors_on(embeddings[:len(fit_texts)])
        raw = gate.detector_scores(holdout, embeddings[len(fit_texts):])
        n_fit, n_calibration = len(fit_texts), len(holdout)
    else:
        embeddings = embed(distinct)
        fold_of = np.empty(len(distinct), dtype=int)
        fold_of[order] = np.arange(len(distinct)) % folds
        raw = {}
        for fold in range(folds):
            inside, outside = np.flatnonzero(fold_of == fold), np.flatnonzero(fold_of != fold)
            scores = detectors_on(embeddings[outside]).detector_scores([distinct[i] for i in inside],
                                                                       embeddings[inside])
            for name, values in scores.items():
                raw.setdefault(name, np.zeros(len(distinct)))[inside] = values
        gate = detectors_on(embeddings)
        n_fit = n_calibration = len(distinct)
    gate.normalisation = {name: _centre_and_scale(values) for name, values in raw.items()}
    calibration_scores = gate.combine(raw)
    if calibration == "holdout":
        gate.threshold = threshold_for_false_reject_rate(calibration_scores, target_false_reject_rate)
        expected = float(np.mean(calibration_scores > gate.threshold))
    else:
        gate.threshold, expected = conformal_threshold(calibration_scores, target_false_reject_rate)
    gate.info = calibration_info(calibration_scores, gate.threshold, target_false_reject_rate, calibration,
                                 expected, folds if calibration == "cross-fit" else None)
    gate.info.update({"embedder_source_sha256": source_sha256(), "n_fit": n_fit, "n_given": len(texts), "seed": seed,
                      "fit_seconds": round(time.perf_counter() - started, 3),
                      "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if calibration == "holdout":  # the older keys, still read by older tools
        gate.info.update({"n_holdout": n_calibration,
                          "holdout_false_reject_rate": gate.info["calibration_false_reject_rate"]})
    if gate.info["calibration_warning"]:
        warnings.warn(gate.info["calibration_warning"], CalibrationWarning, stacklevel=2)
    return gate


def calibration_info(scores: np.ndarray, threshold: float, target: float, method: str, expected: float,
                     folds: int | None) -> dict:
    """What ``gate.json`` says about the threshold: the rate measured on the calibration scores,
    its 95% Wilson interval, the expected rate on fresh inputs and, if the inputs are too few
    for the target, a warning that says how many would do."""
    from tunewise.stats import wilson_interval

    n = len(scores)
    rejected = int(np.sum(scores > threshold))
    low, high = wilson_interval(rejected, n)
    warning = None
    if high > 2 * target or (n + 1) * target < 1:
        warning = (f"{n} calibration inputs cannot hold a {target:.1%} false-reject target: {rejected} of them "
                   f"({rejected / n:.1%}) are rejected, 95% interval [{low:.1%}, {high:.1%}]; about "
                   f"{inputs_needed(target)} inputs would keep the interval under {2 * target:.1%} "
                   "(or raise target_false_reject_rate)")
    return {"calibration": method, "folds": folds, "n_calibration": n, "target_false_reject_rate": target,
            "calibration_false_reject_rate": rejected / n, "false_reject_rate_ci": [low, high],
            "expected_false_reject_rate": expected, "resolvable_false_reject_rate": 1.0 / (n + 1),
            "calibration_warning": warning}


def _centre_and_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and standard deviation (floored so a constant detector cannot divide by zero)."""
    centre = float(np.median(values))
    scale = float(np.std(values)) if len(values) > 1 else 1.0
    return centre, max(scale, 1e-6)
