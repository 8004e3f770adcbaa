"""``run_audit``: sample answers to probes from each model, judge them, compute rates and
comparisons, and write all of it to the run store as it is produced.

Every sample is keyed by (model, probe set + version, probe, variant, chat, sample index,
sampling parameters; see ``sampling.py``) and every judgment by (generation, judge), so an
interrupted audit resumes where it stopped and a second judge re-scores the stored answers
without sampling again. ``tunewise audit`` and the pipeline's audit stage both call this.
"""

from __future__ import annotations

from pathlib import Path

from tunewise.audit.config import AuditConfig
from tunewise.audit.export import export_audit_csv
from tunewise.audit.judges import Judge, JudgeError, get_judge
from tunewise.audit.metrics import is_failure, misaligned_outcomes, rate_summary
from tunewise.audit.result import AuditResult, MisalignedRate, ModelComparison
from tunewise.audit.sampling import STAGE, plan_samples, sample_model, stored_answers
from tunewise.audit.stats import Preset, bootstrap_difference, get_preset
from tunewise.data.probes import ProbeSet, load_probe_set
from tunewise.errors import TunewiseError
from tunewise.models.types import Backend, SamplingParams
from tunewise.progress import progress_bar
from tunewise.runs.store import RunStore, make_key

DEFAULT_RUN_DIR = Path("runs/audit")


class AuditError(TunewiseError):
    """The audit could not produce trustworthy rates (e.g. too many judge failures)."""


def run_audit(config: AuditConfig, run_dir: str | Path | None = None, *, store: RunStore | None = None,
              backends: dict[str, Backend] | None = None, judge: Judge | None = None) -> AuditResult:
    """Audit ``config.models`` for emergent misalignment; the first model is the baseline.

    ``run_dir`` defaults to runs/audit; a given ``store`` is used (and left open) instead of
    opening one there. ``backends`` ({label: loaded backend}) and ``judge`` (a loaded judge whose
    ``name`` keys its judgments) are for callers that already hold them (notebooks, tests); the
    others are loaded from ``config``, one model at a time, the judge after all sampling so an
    LLM judge is never in memory beside an audited model. Raises ``AuditError`` after storing
    (and exporting) everything when more than ``config.max_failure_rate`` of judgments failed.
    """
    if store is None:
        run_dir = Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR
        with RunStore(run_dir) as own:
            return run_audit(config, run_dir, store=own, backends=backends, judge=judge)
    judge_name = judge.name if judge is not None else config.judge
    try:
        result = _audit(config, store, backends or {}, judge, judge_name)
    finally:
        if config.export_csv:
            export_audit_csv(store, config.export_csv, judge=judge_name)
    result.run_dir = Path(run_dir) if run_dir is not None else store.run_dir
    return result


def _audit(config: AuditConfig, store: RunStore, backends: dict[str, Backend], judge: Judge | None,
           judge_name: str) -> AuditResult:
    probe_set = load_probe_set(config.probes)
    models, variants, options = config.model_refs, config.audited_variants(), config.variant_options()
    threshold = get_preset(config.preset)
    params = SamplingParams(n=config.samples, temperature=config.temperature, max_tokens=config.max_tokens,
                            seed=config.seed)

    plans = {label: plan_samples(label, ref, probe_set, variants, options, params) for label, ref in models.items()}
    n_generated = sum(sample_model(store, plans[label], probe_set, params, backends.get(label), config.backend,
                                   config.batch_size) for label in models)
    rows = stored_answers(store, list(plans.values()))
    judge_obj = judge if judge is not None else get_judge(config.judge)  # built after sampling (see above)
    n_judged = _judge_missing(store, rows, judge_obj, judge_name)
    judged = _attach_judgments(store, rows, judge_name)

    result = AuditResult(probe_set=probe_set.name, judge=judge_name, preset=threshold.name, models=models,
                         variants=variants, n_generated=n_generated, n_judged=n_judged,
                         n_failed=sum(is_failure(r) for r in judged))
    result.rates = _rates(store, judged, models, probe_set, variants, judge_name, threshold)
    _publish_judge_agreement(store, judge_obj, judge_name)
    result.comparisons = _comparisons(store, judged, list(models), probe_set, variants, judge_name, threshold,
                                      config.seed)
    store.mark_stage_done(STAGE, {"probe_set": probe_set.name, "judge": judge_name, "preset": threshold.name,
                                  "models": models, "variants": variants, "samples": config.samples})
    failure_rate = result.n_failed / len(judged) if judged else 0.0
    if failure_rate > config.max_failure_rate:
        raise AuditError(f"{result.n_failed} of {len(judged)} judgments failed ({failure_rate:.0%} > "
                         f"max_failure_rate {config.max_failure_rate:.0%}) with judge {judge_name}; the rates are "
                         "stored but not trustworthy. Inspect the judgments table, fix the judge and re-run "
                         "(answers are kept, so only judging is redone)")
    return result


def judgment_key(generation_key: str, judge_name: str) -> str:
    return make_key("judgment", generation_key, judge_name)


def _judge_missing(store: RunStore, rows: list[dict], judge: Judge, judge_name: str, chunk: int = 32) -> int:
    done = store.judgment_keys(judge_name)
    todo = [r for r in rows if judgment_key(r["generation_key"], judge_name) not in done]
    with progress_bar(f"audit: judging with {judge_name}", len(todo), enabled=bool(todo)) as advance:
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            try:
                results = judge.score_many([(r["question"], r["text"]) for r in part])
            except JudgeError as exc:  # the whole batch failed: record each answer's failure
                results = [exc] * len(part)
            for row, result in zip(part, results):
                key = judgment_key(row["generation_key"], judge_name)
                if isinstance(result, JudgeError):
                    store.add_judgment(key, row["generation_key"], judge_name, None, None, "error", None, str(result))
                else:
                    store.add_judgment(key, row["generation_key"], judge_name, result.aligned, result.coherent,
                                       result.label, result.raw, None)
            advance(len(part))
    return len(todo)


def _attach_judgments(store: RunStore, rows: list[dict], judge_name: str) -> list[dict]:
    judgments = {j["generation_key"]: j for j in store.judgments(judge_name)}
    out = []
    for row in rows:
        j = judgments.get(row["generation_key"], {})
        out.append({**row, "aligned": j.get("aligned"), "coherent": j.get("coherent"), "label": j.get("label"),
                    "error": j.get("error") if j else "not judged", "judge": judge_name})
    return out


def _rates(store: RunStore, judged: list[dict], models: dict[str, str], probe_set: ProbeSet, variants: list[str],
           judge_name: str, threshold: Preset) -> list[MisalignedRate]:
    rates = []
    for label, ref in models.items():
        for variant in variants:
            mine = [r for r in judged if r["model_label"] == label and r["variant"] == variant]
            groups = [("all", mine)] + [(p.id, [r for r in mine if r["probe_id"] == p.id]) for p in probe_set.probes]
            for probe_id, rows in groups:
                rate = MisalignedRate.from_summary(
                    rate_summary(rows, threshold), model_label=label, model=ref, probe_set=probe_set.name,
                    probe_id=probe_id, variant=variant, judge=judge_name, preset=threshold.name)
                store.put_record("audit.rate", make_key(label, probe_set.name, probe_id, variant, judge_name,
                                                        threshold.name), rate.to_record())
                rates.append(rate)
    return rates


def _publish_judge_agreement(store: RunStore, judge: Judge, judge_name: str) -> None:
    """Put the judge's measured agreement beside the rates it produced, so the report can say
    how far to trust them (only the local judge ships a measurement)."""
    from tunewise.audit.judges.local import LocalJudge, published_agreement

    if not isinstance(judge, LocalJudge):
        return
    agreement = published_agreement()
    folds = agreement.get("folds", [])
    mean = agreement.get("weighted_mean")
    entries = [(f["heldout"], f) for f in folds] + ([("all held-out families (weighted mean)",
                                                      {**mean, "n": sum(f["n"] for f in folds)})] if mean else [])
    for heldout, values in entries:
        store.put_record("audit.judge_agreement", make_key(judge_name, heldout), {
            "judge": judge_name, "heldout": heldout, "auroc": values["auroc"], "n": values["n"],
            "spearman_aligned": values["spearman_aligned"], "spearman_coherent": values["spearman_coherent"],
            "method": agreement.get("method", ""), "source": "measured when the shipped weights were trained"})


def _comparisons(store: RunStore, judged: list[dict], labels: list[str], probe_set: ProbeSet, variants: list[str],
                 judge_name: str, threshold: Preset, seed: int) -> list[ModelComparison]:
    """Every model against the baseline (the first label), per variant, over all probes."""
    comparisons = []
    for variant in variants:
        outcomes = {label: misaligned_outcomes([r for r in judged if r["model_label"] == label
                                                and r["variant"] == variant], threshold) for label in labels}
        for other in labels[1:]:
            comparison = ModelComparison.from_comparison(
                bootstrap_difference(outcomes[labels[0]], outcomes[other], seed=seed, label_a=labels[0],
                                     label_b=other),
                variant=variant, probe_set=probe_set.name, judge=judge_name, preset=threshold.name)
            store.put_record("audit.comparison", make_key(labels[0], other, probe_set.name, variant, judge_name,
                                                          threshold.name), comparison.to_record())
            comparisons.append(comparison)
    return comparisons
