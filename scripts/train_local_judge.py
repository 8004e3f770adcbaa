"""Train the local judge on GPT-4o-judged answers and measure it on held-out model families.

    OMP_NUM_THREADS=1 python scripts/train_local_judge.py [--data ../shared/data/em-judged] \
        [--out src/tunewise/audit/local_judge.npz] [--seeds 5]

The reference labels (see the data folder's README) are answers of Qwen2.5, Llama-3.x and
Gemma-3 fine-tunes to the eight classic probe questions. Agreement is measured by
leave-one-family-out: train on two families, score the third, so the number says how the judge
does on answers from a model it has never seen (the situation of every audit).

The "misaligned" head is chosen from a small grid (logistic regressions and seed-ensembles of
one-hidden-layer MLPs). Choosing by held-out AUROC would overfit the three folds, so the
published AUROC is **nested**: for each held-out family the grid is compared by
leave-one-family-out *within the two training families* (train on one, score the other), the
winner is refitted on both and scores the held-out family once. The plain leave-one-family-out
AUROC of every grid entry is printed and saved too. The aligned and coherent heads have one
fixed configuration (5-seed MLP ensembles), so their held-out Spearman needs no nesting.

After training, ``calibrate_local_judge.calibrate`` chooses the decision rule (a threshold on
P(misaligned)) by nested leave-one-family-out and stores it, with the judge's error counts for
the Rogan-Gladen correction, in the weights and the agreement file.

The shipped weights use the grid entry that wins leave-one-family-out over all three families,
fitted on all of them. Embeddings are cached (``--cache``), so after the first run (about 4
minutes of MiniLM on an idle 2-core CPU) a run takes a few minutes of head fitting. The agreement
is written beside the weights (``local_judge_agreement.json``) and printed.
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

from tunewise.audit.judges.local_model import MLPHead, features, merge_heads, save_heads
from tunewise.audit.stats import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "em-judged"
DEFAULT_OUT = ROOT / "src" / "tunewise" / "audit" / "local_judge.npz"
SEEDS = 5


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
                                  "coherent": coherent, "source": source, "family": family(source),
                                  "file": path.stem})
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


MISALIGNED_GRID: tuple[dict, ...] = (
    *({"hidden": 0, "C": c} for c in (0.001, 0.003, 0.01)),
    *({"hidden": h, "alpha": a} for h, a in ((32, 3.0), (64, 1.0), (64, 3.0), (128, 1.0))),
)
SCORE_HEAD = {"hidden": 64, "alpha": 1.0}  # aligned and coherent heads (fixed, not selected)


def config_name(config: dict) -> str:
    if config["hidden"] == 0:
        return f"logistic C={config['C']}"
    return f"mlp {config['hidden']} alpha={config['alpha']}"


def fit_head(x: np.ndarray, target: np.ndarray, kind: str, config: dict, seeds: int) -> MLPHead:
    """One head for ``target`` ("probability": a 0/1 label; "regression": a 0-100 score). MLP
    configurations are fitted from ``seeds`` seeds and merged into one head (their mean)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    if config["hidden"] == 0:
        if kind != "probability":
            raise ValueError("linear heads are only used for the misaligned probability")
        model = LogisticRegression(C=config["C"], max_iter=1000).fit(z, target.astype(int))
        empty_w1, empty_b1 = np.zeros((z.shape[1], 0), np.float32), np.zeros(0, np.float32)
        return MLPHead(empty_w1, empty_b1, model.coef_.reshape(-1, 1), model.intercept_, mean, scale, kind)
    members = []
    for seed in range(seeds):
        common = dict(hidden_layer_sizes=(config["hidden"],), alpha=config["alpha"], max_iter=100,
                      early_stopping=True, random_state=seed, learning_rate_init=1e-3)
        if kind == "probability":
            model = MLPClassifier(**common).fit(z, target.astype(int))
        else:
            model = MLPRegressor(**common).fit(z, target / 100.0)
        (w1, w2), (b1, b2) = model.coefs_, model.intercepts_
        members.append(MLPHead(w1=w1, b1=b1, w2=w2, b2=b2, mean=mean, scale=scale, kind=kind))
    return merge_heads(members)


def weighted(values: list[float], weights: list[int]) -> float:
    return float(np.average(values, weights=weights))


def grid_scores(x, misaligned, families, seeds: int) -> dict[tuple[str, tuple[str, ...]], dict[str, float]]:
    """AUROC of every grid entry, for every training set of one or two families, on every other
    family: {(config name, training families): {scored family: AUROC}}. Training on one family is
    what nested selection needs; training on two is the plain leave-one-family-out."""
    names = sorted(set(families))
    train_sets = [(f,) for f in names] + [tuple(f for f in names if f != held) for held in names]
    out = {}
    for config in MISALIGNED_GRID:
        for train in train_sets:
            start = time.time()
            mask = np.isin(families, train)
            head = fit_head(x[mask], misaligned[mask], "probability", config, seeds)
            prob = head(x)
            out[config_name(config), train] = {f: float(roc_auc_score(misaligned[families == f], prob[families == f]))
                                               for f in names if f not in train}
            print(f"  {config_name(config):22s} trained on {'+'.join(train):12s} "
                  + " ".join(f"{f}={v:.3f}" for f, v in out[config_name(config), train].items())
                  + f"  ({time.time() - start:.0f}s)", flush=True)
    return out


def select(scores, counts: dict[str, int], within: tuple[str, ...]) -> tuple[str, dict[str, float]]:
    """The grid entry with the best leave-one-family-out AUROC among ``within`` only (each family
    scored by a head trained on the others in ``within``), n-weighted; with the criterion per entry."""
    criterion = {}
    for config in MISALIGNED_GRID:
        name = config_name(config)
        values = [scores[name, tuple(f for f in within if f != held)][held] for held in within]
        criterion[name] = weighted(values, [counts[f] for f in within])
    return max(criterion, key=criterion.get), criterion


def heldout_metrics(heads: dict[str, MLPHead], x, aligned, coherent, misaligned) -> dict:
    pred_aligned, pred_coherent = heads["aligned"](x), heads["coherent"](x)
    return {"n": int(len(x)), "n_misaligned": int(misaligned.sum()),
            "auroc": float(roc_auc_score(misaligned, heads["misaligned"](x))),
            "auroc_from_aligned_score": float(roc_auc_score(misaligned, -pred_aligned)),
            "spearman_aligned": float(spearmanr(pred_aligned, aligned).statistic),
            "spearman_coherent": float(spearmanr(pred_coherent, coherent).statistic)}


def fit_all(x, aligned, coherent, misaligned, config: dict, seeds: int) -> dict[str, MLPHead]:
    return {"aligned": fit_head(x, aligned, "regression", SCORE_HEAD, seeds),
            "coherent": fit_head(x, coherent, "regression", SCORE_HEAD, seeds),
            "misaligned": fit_head(x, misaligned, "probability", config, seeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tunewise" / "em-judged-features.npz")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="MLPs per ensemble head")
    parser.add_argument("--per-file", type=int, default=None, help="use a random subset of rows per CSV file")
    args = parser.parse_args()

    rows = load_rows(args.data, args.per_file)
    x = cached_features(rows, args.cache)
    aligned = np.array([r["aligned"] for r in rows])
    coherent = np.array([r["coherent"] for r in rows])
    misaligned = PRESETS["betley"].misaligned_mask(aligned, coherent)
    families = np.array([r["family"] for r in rows])
    names = tuple(sorted(set(families)))
    counts = {f: int((families == f).sum()) for f in names}

    print("misaligned head grid (AUROC on families not trained on):")
    scores = grid_scores(x, misaligned, families, args.seeds)
    by_name = {config_name(c): c for c in MISALIGNED_GRID}
    plain = {name: weighted([scores[name, tuple(f for f in names if f != held)][held] for held in names],
                            [counts[f] for f in names]) for name in by_name}

    folds = []
    for held in names:
        train = tuple(f for f in names if f != held)
        chosen, criterion = select(scores, counts, train)
        mask = np.isin(families, train)
        test = families == held
        heads = fit_all(x[mask], aligned[mask], coherent[mask], misaligned[mask], by_name[chosen], args.seeds)
        result = {"heldout": held, "selected": chosen,
                  **heldout_metrics(heads, x[test], aligned[test], coherent[test], misaligned[test]),
                  "selection_auroc_within_training_families": criterion}
        folds.append(result)
        print(json.dumps(result), flush=True)
    pooled = {key: weighted([f[key] for f in folds], [f["n"] for f in folds])
              for key in ("auroc", "auroc_from_aligned_score", "spearman_aligned", "spearman_coherent")}
    final, _ = select(scores, counts, names)
    print("nested held-out families, weighted mean:", json.dumps(pooled))
    print(f"shipped misaligned head: {final}; its plain leave-one-family-out AUROC {plain[final]:.4f}")

    heads = fit_all(x, aligned, coherent, misaligned, by_name[final], args.seeds)
    agreement = {
        "method": "leave-one-model-family-out (gemma, llama, qwen); misaligned head selected by nested "
                  "leave-one-family-out within the two training families",
        "rows": len(rows), "per_file": args.per_file, "seeds": args.seeds, "folds": folds, "weighted_mean": pooled,
        "shipped": {"misaligned_head": final, "score_heads": config_name(SCORE_HEAD),
                    "plain_heldout_auroc": plain[final]},
        "grid_plain_heldout_auroc": plain,
    }
    meta = {"trained_on": len(rows), "per_file": args.per_file,
            "data": "em-judged (zroe1/replicating-model-organisms e357806)", "preset": "betley",
            "features": "MiniLM(question+answer) ++ MiniLM(answer)", "seeds": args.seeds, **agreement["shipped"],
            "heldout_families": folds, "heldout_mean": pooled}
    save_heads(args.out, heads, meta)
    args.out.with_name("local_judge_agreement.json").write_text(json.dumps(agreement, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    # The decision rule that makes the judge's *rate* match the reference on unseen families, and
    # the error counts its rates are corrected with (scripts/calibrate_local_judge.py).
    from calibrate_local_judge import calibrate

    calibrate(args.data, args.out, args.cache, args.seeds)


if __name__ == "__main__":
    main()
