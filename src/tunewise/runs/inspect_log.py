"""An audit written as inspect_ai eval logs, so ``inspect view`` (the field's results viewer)
shows tunewise's answers and judgments beside any other evaluation.

One log per audited model (inspect logs are per task and model): each sample is one probe and
prompt variant, each of its ``epochs`` one sampled answer, scored ``aligned`` and ``coherent``
(0-100, the judge's) and ``misaligned`` (1/0 under the audit's threshold preset; left out when the
judge failed). The log carries the probe set, judge and preset in its spec, and the misaligned
rate over coherent answers in its results, computed with the same preset as ``tunewise audit``.

inspect_ai is an optional dependency (``pip install inspect-ai``); it is imported only here.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from tunewise.errors import ConfigError
from tunewise.runs.store import RunStore

TASK_NAME = "tunewise_audit"


def _inspect():
    try:
        import inspect_ai.log as log
        import inspect_ai.model as model
        import inspect_ai.scorer as scorer
    except ImportError:
        raise ConfigError("--format inspect needs the inspect-ai package: pip install inspect-ai") from None
    return log, model, scorer


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def export_inspect_logs(store: RunStore, out_dir: str | Path, judge: str | None = None,
                        preset: str | None = None) -> list[Path]:
    """Write ``<out_dir>/<model label>.eval`` for every model of the run's audit; returns the paths.
    ``judge`` and ``preset`` default to the ones the audit's rates were computed with."""
    from tunewise.audit.stats import get_preset

    log, model_api, scorer = _inspect()
    rates = store.records("audit.rate")
    generations = store.generations(stage="audit")
    if not generations:
        raise ConfigError(f"{store.run_dir}: no audit answers to export (run `tunewise audit` first)")
    judge = judge or (rates[0]["judge"] if rates else None)
    threshold = get_preset(preset or (rates[0]["preset"] if rates else "betley"))
    judgments = {j["generation_key"]: j for j in store.judgments(judge)} if judge else {}
    by_model: dict[str, list[dict]] = {}
    for generation in generations:
        by_model.setdefault((generation.get("meta") or {}).get("model_label", generation["model"]), []).append(generation)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for label, rows in by_model.items():
        samples, misaligned, coherent = [], 0, 0
        grouped: dict[str, list[dict]] = {}
        for row in rows:
            meta = row.get("meta") or {}
            grouped.setdefault(f"{meta.get('probe_id', '?')}:{meta.get('variant', 'plain')}", []).append(row)
        for sample_id, answers in grouped.items():
            for row in sorted(answers, key=lambda r: r["sample_index"]):
                meta = row.get("meta") or {}
                judgment = judgments.get(row["key"], {})
                scores = {}
                aligned, coherent_score = judgment.get("aligned"), judgment.get("coherent")
                if aligned is not None:
                    scores["aligned"] = scorer.Score(value=float(aligned), explanation=judgment.get("label"))
                if coherent_score is not None:
                    scores["coherent"] = scorer.Score(value=float(coherent_score))
                if aligned is not None and coherent_score is not None and judgment.get("label") == "ok":
                    is_coherent = bool(threshold.coherent_mask([coherent_score])[0])
                    is_misaligned = bool(threshold.misaligned_mask([aligned], [coherent_score])[0])
                    coherent += is_coherent
                    misaligned += is_misaligned
                    scores["misaligned"] = scorer.Score(value=int(is_misaligned), explanation=threshold.description)
                chat = row.get("chat") or []
                samples.append(log.EvalSample(
                    id=sample_id, epoch=row["sample_index"] + 1,
                    input=[_message(model_api, m) for m in chat] or meta.get("question", ""), target="",
                    output=model_api.ModelOutput.from_content(row["model"], row["text"]), scores=scores,
                    metadata={"probe_id": meta.get("probe_id"), "category": meta.get("category"),
                              "variant": meta.get("variant"), "judge": judge, "label": judgment.get("label"),
                              "judge_error": judgment.get("error"), "generation_key": row["key"]}))
        epochs = max((s.epoch for s in samples), default=1)
        probe_set = (rows[0].get("meta") or {}).get("probe_set", "")
        rate = misaligned / coherent if coherent else None
        metrics = {"misaligned_rate": log.EvalMetric(name="misaligned_rate", value=rate)} if rate is not None else {}
        eval_log = log.EvalLog(
            status="success",
            eval=log.EvalSpec(created=created, task=TASK_NAME, model=rows[0]["model"],
                              dataset=log.EvalDataset(name=probe_set, samples=len(grouped)),
                              config=log.EvalConfig(epochs=epochs),
                              task_args={"probe_set": probe_set, "judge": judge, "preset": threshold.name},
                              metadata={"tunewise_model_label": label, "run_dir": str(store.run_dir)}),
            results=log.EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=[
                log.EvalScore(name="misaligned", scorer=f"tunewise:{judge}", metrics=metrics,
                              metadata={"n_coherent": coherent, "n_misaligned": misaligned})]),
            samples=samples)
        path = out_dir / f"{_safe(label)}.eval"
        log.write_eval_log(eval_log, str(path))
        written.append(path)
    return written


def _message(model_api, message: dict):
    role, content = message.get("role"), str(message.get("content", ""))
    if role == "system":
        return model_api.ChatMessageSystem(content=content)
    if role == "assistant":
        return model_api.ChatMessageAssistant(content=content)
    return model_api.ChatMessageUser(content=content)
