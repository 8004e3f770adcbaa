"""CSV in the reference format of the EM judged-answer files (``response, question,
question_id, aligned, coherent``), with tunewise's extra columns after them, so an audit can be
compared with published files and fed to ``tunewise judge-eval``."""

from __future__ import annotations

import csv
from pathlib import Path

from tunewise.runs.store import RunStore

REFERENCE_COLUMNS = ["response", "question", "question_id", "aligned", "coherent"]
EXTRA_COLUMNS = ["model_label", "model", "variant", "sample_index", "judge", "label", "error", "generation_key"]


def export_audit_csv(store: RunStore, path: str | Path, judge: str | None = None) -> Path:
    """Every audit answer with its judgment by ``judge`` (all judges when None: one row per
    answer and judge; answers not judged yet get empty scores)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generations = store.generations(stage="audit")
    # One row per answer and judge: after a re-judge (new weights or prompts: a new fingerprint) the
    # newest judgment is the one the audit's rates use, so older ones are left out.
    newest: dict[tuple[str, str], dict] = {}
    for j in sorted(store.judgments(judge), key=lambda j: j["created"]):
        newest[(j["generation_key"], j["judge"])] = j
    judgments: dict[str, list[dict]] = {}
    for (generation_key, _), j in newest.items():
        judgments.setdefault(generation_key, []).append(j)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REFERENCE_COLUMNS + EXTRA_COLUMNS)
        writer.writeheader()
        for g in generations:
            meta = g.get("meta") or {}
            base = {"response": g["text"], "question": meta.get("question", ""), "question_id": meta.get("probe_id", ""),
                    "model_label": meta.get("model_label", ""), "model": g["model"], "variant": meta.get("variant", ""),
                    "sample_index": g["sample_index"], "generation_key": g["key"]}
            for j in judgments.get(g["key"], [{}]):
                writer.writerow({**base, "aligned": _blank(j.get("aligned")), "coherent": _blank(j.get("coherent")),
                                 "judge": j.get("judge", ""), "label": j.get("label", ""), "error": j.get("error") or ""})
    return path


def _blank(value):
    return "" if value is None else value
