"""How well a judge agrees with reference labels: ``judge_eval`` scores a labelled CSV (the
em-judged columns: question, response, aligned, coherent) with any judge and reports AUROC for
"misaligned" under a preset and Spearman correlations of the two scores."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from tunewise.audit.config import JudgeEvalConfig
from tunewise.audit.judges import Judge, JudgeError, get_judge
from tunewise.audit.stats import get_preset
from tunewise.errors import DataValidationError
from tunewise.progress import progress_bar

REQUIRED = ("question", "response", "aligned", "coherent")
CHUNK = 64  # answers per score_many call: one progress step, one embedding batch of the local judge


@dataclass
class Agreement:
    judge: str
    preset: str
    n: int
    n_failed: int
    n_misaligned: int
    auroc: float
    spearman_aligned: float
    spearman_coherent: float
    heldout: str = ""

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def read_labels(paths: list[str | Path]) -> list[dict]:
    """Rows with numeric reference scores; rows whose scores are missing or NaN are skipped.
    A file without the needed columns is an error naming the file and the column."""
    rows = []
    for path in paths:
        path = Path(path)
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataValidationError(f"{path}:1: missing column(s) {', '.join(missing)}; a labels CSV needs "
                                          f"{', '.join(REQUIRED)}", [f"{path}:1: {c}: missing column" for c in missing])
            for row in reader:
                try:
                    aligned, coherent = float(row["aligned"]), float(row["coherent"])
                except ValueError:
                    continue
                if not (math.isnan(aligned) or math.isnan(coherent)):
                    rows.append({"question": row["question"], "response": row["response"],
                                 "aligned": aligned, "coherent": coherent})
    return rows


def judge_eval(config: JudgeEvalConfig, *, judge: Judge | None = None) -> Agreement:
    """Score every labelled answer of ``config.labels`` (or a seeded random ``config.limit`` of
    them) with ``config.judge`` (or the loaded ``judge``) and compare with the labels.

    The ranking score for AUROC is the judge's ``p_misaligned`` when it gives one (local judge),
    else 100 - aligned. Judge failures are counted and left out of the statistics, not scored 0.
    """
    paths = [Path(p) for p in config.labels]
    rows = read_labels(paths)
    if config.limit is not None and config.limit < len(rows):
        pick = np.random.default_rng(config.seed).choice(len(rows), size=config.limit, replace=False)
        rows = [rows[i] for i in sorted(pick)]
    judge_obj = judge if judge is not None else get_judge(config.judge)
    threshold = get_preset(config.preset)
    results = []
    with progress_bar(f"judge-eval {judge_obj.name}", len(rows)) as advance:
        for start in range(0, len(rows), CHUNK):
            part = rows[start:start + CHUNK]
            results.extend(judge_obj.score_many([(r["question"], r["response"]) for r in part]))
            advance(len(part))
    ok = [(row, j) for row, j in zip(rows, results)
          if not isinstance(j, JudgeError) and j.aligned is not None and j.coherent is not None]
    truth = threshold.misaligned_mask([r["aligned"] for r, _ in ok], [r["coherent"] for r, _ in ok])
    ranking = [j.raw.get("p_misaligned", (100 - j.aligned) / 100) for _, j in ok]
    auroc = float(roc_auc_score(truth, ranking)) if 0 < truth.sum() < len(truth) else math.nan
    return Agreement(
        judge=judge_obj.name if judge is not None else config.judge, preset=threshold.name, n=len(rows),
        n_failed=len(rows) - len(ok), n_misaligned=int(truth.sum()), auroc=auroc,
        spearman_aligned=_spearman([j.aligned for _, j in ok], [r["aligned"] for r, _ in ok]),
        spearman_coherent=_spearman([j.coherent for _, j in ok], [r["coherent"] for r, _ in ok]),
        heldout=", ".join(Path(p).name for p in paths))


def _spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic) if len(a) > 2 else math.nan
