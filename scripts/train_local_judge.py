"""Train the local judge on GPT-4o-judged answers and measure it on held-out model families.

    python scripts/train_local_judge.py [--data ../shared/data/em-judged] [--out src/tunewise/audit/local_judge.npz]

The reference labels (see the data folder's README) are answers of Qwen2.5, Llama-3.x and
Gemma-3 fine-tunes to the eight classic probe questions. Agreement is measured by
leave-one-family-out: train on two families, score the third, so the published number says how
the judge does on answers from a model it has never seen (the situation of every audit). The
shipped weights are then fitted on all families. The agreement is written beside the weights
(``local_judge_agreement.json``) and printed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

from tunewise.audit.judges.local_model import MLPHead, features, save_heads
from tunewise.audit.stats import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "em-judged"
DEFAULT_OUT = ROOT / "src" / "tunewise" / "audit" / "local_judge.npz"
HIDDEN = 64


def family(source_model: str) -> str:
    """Model family of a file's source model ("Qwen2.5-7B-Instruct" -> "qwen")."""
    return source_model.split("-")[0].split(".")[0].lower().rstrip("0123456789")


def load_rows(folder: Path, per_file: int | None = None, seed: int = 0) -> list[dict]:
    """Every scored row; with ``per_file``, a seeded random subset of that many rows per file
    (for a quick run on a busy CPU: embedding all 7,596 answers takes minutes)."""
    rng = np.random.default_rng(seed)
    rows = []
    for path in sorted(folder.glob("*.csv")):
        file_rows = []
        source = path.stem.split("_")[0]
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    aligned, coherent = float(row["aligned"]), float(row["coherent"])
                except (KeyError, ValueError):
                    continue
                if math.isnan(aligned) or math.isnan(coherent):
                    continue
                file_rows.append({"question": row["question"], "response": row["response"], "aligned": aligned,
                                  "coherent": coherent, "source": source, "family": family(source)})
        if per_file is not None and per_file < len(file_rows):
            file_rows = [file_rows[i] for i in sorted(rng.choice(len(file_rows), per_file, replace=False))]
        rows.extend(file_rows)
    return rows


def cached_features(rows: list[dict], cache: Path) -> np.ndarray:
    """Embeddings take minutes on 2 CPU cores; keep them between runs (not shipped)."""
    digest = hashlib.sha256("\x00".join(r["question"] + "\x01" + r["response"] for r in rows).encode()).hexdigest()
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        if "digest" in data.files and str(data["digest"]) == digest:
            return data["x"]
    start = time.time()
    x = features([r["question"] for r in rows], [r["response"] for r in rows])
    print(f"embedded {len(rows)} answers in {time.time() - start:.0f}s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, digest=np.array(digest))
    return x


def fit_heads(x: np.ndarray, aligned: np.ndarray, coherent: np.ndarray, misaligned: np.ndarray,
              seed: int = 0, hidden: int = HIDDEN) -> dict[str, MLPHead]:
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    if hidden == 0:
        return fit_linear_heads(z, aligned, coherent, misaligned, mean, scale)
    heads = {}
    for name, target, kind in (("aligned", aligned, "regression"), ("coherent", coherent, "regression"),
                               ("misaligned", misaligned, "probability")):
        common = dict(hidden_layer_sizes=(hidden,), alpha=1.0, max_iter=100, early_stopping=True,
                      random_state=seed, learning_rate_init=1e-3)
        model = (MLPClassifier(**common) if kind == "probability" else MLPRegressor(**common))
        model.fit(z, target.astype(int) if kind == "probability" else target / 100.0)
        w1, w2 = model.coefs_
        b1, b2 = model.intercepts_
        heads[name] = MLPHead(w1=w1, b1=b1, w2=w2, b2=b2, mean=mean, scale=scale, kind=kind)
    return heads


def fit_linear_heads(z, aligned, coherent, misaligned, mean, scale) -> dict[str, MLPHead]:
    """Ridge regressions for the scores and a logistic regression for misaligned: seconds to fit."""
    from sklearn.linear_model import LogisticRegression, Ridge

    empty_w1, empty_b1 = np.zeros((z.shape[1], 0), np.float32), np.zeros(0, np.float32)
    heads = {}
    for name, target in (("aligned", aligned), ("coherent", coherent)):
        model = Ridge(alpha=100.0).fit(z, target / 100.0)
        heads[name] = MLPHead(empty_w1, empty_b1, model.coef_.reshape(-1, 1), np.array([model.intercept_]),
                              mean, scale, "regression")
    model = LogisticRegression(C=0.01, max_iter=500).fit(z, misaligned.astype(int))
    heads["misaligned"] = MLPHead(empty_w1, empty_b1, model.coef_.reshape(-1, 1), model.intercept_, mean, scale,
                                  "probability")
    return heads


def agreement(heads: dict[str, MLPHead], x: np.ndarray, aligned, coherent, misaligned) -> dict:
    pred_aligned, pred_coherent = heads["aligned"](x), heads["coherent"](x)
    prob = heads["misaligned"](x)
    return {"n": int(len(x)), "n_misaligned": int(misaligned.sum()),
            "auroc": float(roc_auc_score(misaligned, prob)),
            "auroc_from_aligned_score": float(roc_auc_score(misaligned, -pred_aligned)),
            "spearman_aligned": float(spearmanr(pred_aligned, aligned).statistic),
            "spearman_coherent": float(spearmanr(pred_coherent, coherent).statistic)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tunewise" / "em-judged-features.npz")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="hidden units per head; 0 = linear heads")
    parser.add_argument("--per-file", type=int, default=None, help="use a random subset of rows per CSV file")
    args = parser.parse_args()

    rows = load_rows(args.data, args.per_file)
    x = cached_features(rows, args.cache)
    aligned = np.array([r["aligned"] for r in rows])
    coherent = np.array([r["coherent"] for r in rows])
    misaligned = PRESETS["betley"].misaligned_mask(aligned, coherent)
    families = np.array([r["family"] for r in rows])

    folds = []
    for held in sorted(set(families)):
        test = families == held
        heads = fit_heads(x[~test], aligned[~test], coherent[~test], misaligned[~test], hidden=args.hidden)
        result = {"heldout": held, **agreement(heads, x[test], aligned[test], coherent[test], misaligned[test])}
        folds.append(result)
        print(json.dumps(result))
    pooled = {key: float(np.average([f[key] for f in folds], weights=[f["n"] for f in folds]))
              for key in ("auroc", "auroc_from_aligned_score", "spearman_aligned", "spearman_coherent")}
    print("held-out families, weighted mean:", json.dumps(pooled))

    heads = fit_heads(x, aligned, coherent, misaligned, hidden=args.hidden)
    meta = {"trained_on": len(rows), "per_file": args.per_file, "data": "em-judged (zroe1/replicating-model-organisms e357806)",
            "preset": "betley", "hidden": args.hidden, "features": "MiniLM(question+answer) ++ MiniLM(answer)",
            "heldout_families": folds, "heldout_mean": pooled}
    save_heads(args.out, heads, meta)
    args.out.with_name("local_judge_agreement.json").write_text(json.dumps(
        {"method": "leave-one-model-family-out (qwen, llama, gemma)", "rows": len(rows), "per_file": args.per_file,
         "folds": folds, "weighted_mean": pooled},
        indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
