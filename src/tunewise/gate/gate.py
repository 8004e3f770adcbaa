"""The domain gate: fit on a task's inputs, calibrate a threshold, decide per input, save/load.

A gate combines detectors by standardising each detector's score against the held-out
in-domain inputs (median and spread) and averaging: detectors live on different scales
(squared distances in the hundreds, cosine distances below 1, log-prob differences), and the
held-out inputs are exactly the population whose false-reject rate we calibrate.

The artifact is ``gate.json`` (everything a person may want to read) plus ``gate.npz``
(arrays, loaded with ``allow_pickle=False``): never pickle.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tunewise.errors import ConfigError, DataValidationError
from tunewise.gate.detectors import KNNDetector, MahalanobisDetector
from tunewise.gate.likelihood import LikelihoodRatio
from tunewise.gate.metrics import threshold_for_false_reject_rate

FORMAT_VERSION = 1
EMBEDDER = "all-MiniLM-L6-v2 (packaged, L2-normalised)"
Embedder = Callable[[list[str]], np.ndarray]


def _default_embedder(texts: list[str]) -> np.ndarray:
    from tunewise.embeddings import embed_texts

    return embed_texts(texts)


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
    embedder: Embedder = field(default=_default_embedder, repr=False)

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
            "embedder": EMBEDDER,
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
             embedder: Embedder | None = None) -> "DomainGate":
        """Load a saved gate. A gate fitted with the likelihood-ratio signal reloads both models
        from the saved references unless ``likelihood`` is given."""
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
        known = {"format_version", "embedder", "threshold", "normalisation", "mahalanobis_shrinkage", "knn_k",
                 "likelihood_ratio"}
        return cls(mahalanobis=mahalanobis, knn=knn,
                   normalisation={k: (float(v[0]), float(v[1])) for k, v in meta["normalisation"].items()},
                   threshold=float(meta["threshold"]), info={k: v for k, v in meta.items() if k not in known},
                   likelihood=likelihood, embedder=embedder or _default_embedder)


def fit_gate(texts: list[str], target_false_reject_rate: float = 0.01, holdout_fraction: float = 0.2,
             k: int = 5, seed: int = 0, likelihood: LikelihoodRatio | None = None,
             embedder: Embedder | None = None) -> DomainGate:
    """Fit a domain gate on in-domain inputs (e.g. the user messages of the training set).

    ``holdout_fraction`` of the distinct texts is held out: the detectors never see it, and the
    threshold is set so that at most ``target_false_reject_rate`` of it is rejected (default 1%:
    a gate that refuses real users is worse than none). The held-out scores also standardise the
    detectors (see the module docstring). Pass ``likelihood`` (tuned vs base model) to add the
    likelihood-ratio signal.
    """
    distinct = list(dict.fromkeys(t for t in texts if isinstance(t, str) and t.strip()))
    if len(distinct) < 10:
        raise DataValidationError(f"fit_gate needs at least 10 distinct non-empty in-domain texts, "
                                  f"got {len(distinct)} (from {len(texts)} given)")
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_holdout = max(1, int(round(holdout_fraction * len(distinct))))
    holdout = [distinct[i] for i in order[:n_holdout]]
    fit_texts = [distinct[i] for i in order[n_holdout:]]

    started = time.perf_counter()
    embed = embedder or _default_embedder
    embeddings = embed(fit_texts + holdout)
    fit_embeddings, holdout_embeddings = embeddings[:len(fit_texts)], embeddings[len(fit_texts):]
    gate = DomainGate(mahalanobis=MahalanobisDetector.fit(fit_embeddings), knn=KNNDetector.fit(fit_embeddings, k),
                      normalisation={}, threshold=0.0, likelihood=likelihood, embedder=embed)
    raw = gate.detector_scores(holdout, holdout_embeddings)
    gate.normalisation = {name: _centre_and_scale(values) for name, values in raw.items()}
    holdout_scores = gate.combine(raw)
    gate.threshold = threshold_for_false_reject_rate(holdout_scores, target_false_reject_rate)
    gate.info = {
        "n_fit": len(fit_texts), "n_holdout": len(holdout), "n_given": len(texts), "seed": seed,
        "target_false_reject_rate": target_false_reject_rate,
        "holdout_false_reject_rate": float(np.mean(holdout_scores > gate.threshold)),
        "resolvable_false_reject_rate": 1.0 / len(holdout),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return gate


def _centre_and_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and standard deviation (floored so a constant detector cannot divide by zero)."""
    centre = float(np.median(values))
    scale = float(np.std(values)) if len(values) > 1 else 1.0
    return centre, max(scale, 1e-6)
