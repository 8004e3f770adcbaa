"""How well a judge agrees with reference labels: ``judge_eval`` scores a labelled CSV (the
em-judged columns: question, response or answer, aligned, coherent) with any judge and reports
AUROC for "misaligned" under a preset, Spearman correlations of the two scores and, at the
judge's decision rule for the preset, sensitivity, specificity and its misaligned rate beside
the reference rate (a judge can rank well and still report half the true rate)."""

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
from tunewise.audit.metrics import judged_misaligned
from tunewise.audit.stats import get_preset
from tunewise.errors import DataValidationError
from tunewise.progress import progress_bar

REQUIRED = ("question", "aligned", "coherent")
ANSWER_COLUMNS = ("response", "answer")  # the first one present holds the answer
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
    answer_column: str = "response"  # which column held the answers (response, else answer)
    sensitivity: float = math.nan  # reference-misaligned answers the judge flagged
    specificity: float = math.nan  # reference-not-misaligned answers the judge did not flag
    judge_rate: float = math.nan  # judge: flagged among the answers it judged coherent
    reference_rate: float = math.nan  # labels: misaligned among the answers they call coherent
    decision_rule: str = ""  # how the judge decided "misaligned" (its calibrated rule or the preset)

    def summary(self) -> str:
        """What ``tunewise judge-eval`` prints."""
        def f(value, percent=False):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "-"
            return f"{100 * value:.1f}%" if percent else f"{value:.3f}"

        return (f"judge {self.judge} on {self.n} labelled answers from {self.heldout} (answers in column "
                f"'{self.answer_column}'; {self.n_misaligned} misaligned under {self.preset}, {self.n_failed} judge "
                f"failures)\n  AUROC {f(self.auroc)}, Spearman aligned {f(self.spearman_aligned)}, coherent "
                f"{f(self.spearman_coherent)}\n  at {self.decision_rule}: sensitivity {f(self.sensitivity)}, "
                f"specificity {f(self.specificity)}; misaligned rate: judge {f(self.judge_rate, True)} vs reference "
                f"{f(self.reference_rate, True)} (bias {f(self.judge_rate - self.reference_rate, True)})")

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
            fields = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in fields]
            column = next((c for c in ANSWER_COLUMNS if c in fields), None)
            if column is None:
                missing.append("response (or answer)")
            if missing:
                raise DataValidationError(f"{path}:1: missing column(s) {', '.join(missing)}; a labels CSV needs "
                                          "question, response or answer, aligned, coherent",
                                          [f"{path}:1: {c}: missing column" for c in missing])
            for row in reader:
                try:
                    aligned, coherent = float(row["aligned"]), float(row["coherent"])
                except ValueError:
                    continue
                if not (math.isnan(aligned) or math.isnan(coherent)):
                    rows.append({"question": row["question"], "response": row[column],
                                 "aligned": aligned, "coherent": coherent, "answer_column": column})
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
    judge_coherent = threshold.coherent_mask([j.coherent for _, j in ok])
    flagged = judge_coherent & np.array([judged_misaligned({"aligned": j.aligned, "raw": j.raw}, threshold)
                                         for _, j in ok], dtype=bool)
    reference_coherent = threshold.coherent_mask([r["coherent"] for r, _ in ok])
    uses_rule = any("misaligned" in j.raw and j.raw.get("rule_preset") == threshold.name for _, j in ok)
    return Agreement(
        judge=judge_obj.name if judge is not None else config.judge, preset=threshold.name, n=len(rows),
        n_failed=len(rows) - len(ok), n_misaligned=int(truth.sum()), auroc=auroc,
        spearman_aligned=_spearman([j.aligned for _, j in ok], [r["aligned"] for r, _ in ok]),
        spearman_coherent=_spearman([j.coherent for _, j in ok], [r["coherent"] for r, _ in ok]),
        heldout=", ".join(Path(p).name for p in paths),
        answer_column=", ".join(sorted({r["answer_column"] for r in rows})) or "response",
        sensitivity=_share(flagged[truth]), specificity=_share(~flagged[~truth]),
        judge_rate=float(flagged.sum() / judge_coherent.sum()) if judge_coherent.any() else math.nan,
        reference_rate=float(truth.sum() / reference_coherent.sum()) if reference_coherent.any() else math.nan,
        decision_rule=("the judge's calibrated rule (coherent score > "
                       f"{threshold.coherent_above:g} and P(misaligned) above its threshold)" if uses_rule
                       else f"the preset on the judge's scores ({threshold.description})"))


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else math.nan


def _spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic) if len(a) > 2 else math.nan
