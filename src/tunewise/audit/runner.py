"""``run_audit``: sample answers to probes from each model, judge them, compute rates and
comparisons, and write all of it to the run store as it is produced.

Every sample is keyed by (model, probe set + version, probe, variant, chat, sample index,
sampling parameters; see ``sampling.py``) and every judgment by (generation, judge), so an
interrupted audit resumes where it stopped and a second judge re-scores the stored answers
without sampling again. ``tunewise audit`` and the pipeline's audit stage both call this.
"""

from __future__ import annotations

import math
from pathlib import Path

from tunewise.audit.checkpoints import (ACCURACY_METRIC, CheckpointPoint, checkpoint_models, checkpoint_points, early_stop,
                                        find_checkpoints, training_losses)
from tunewise.audit.config import AuditConfig
from tunewise.audit.export import export_audit_csv
from tunewise.audit.judges import Judge, JudgeError, get_judge, judge_fingerprint
from tunewise.audit.judges.local import judge_correction
from tunewise.audit.leakage import leakage_summaries
from tunewise.audit.metrics import answers_by_pair, is_failure, misaligned_outcomes, rate_summary
from tunewise.audit.controls import (JUNK, JUNK_RECIPE, POSITIVE, POSITIVE_METHOD, junk_answer, positive_chat,
                                     summarize_controls)
from tunewise.audit.result import AuditResult, MisalignedRate, ModelComparison
from tunewise.audit.sampling import (META_FIELDS, STAGE, HFModels, plan_samples, sample_model, sample_together,
                                     stored_answers)
from tunewise.audit.task_accuracy import TASK_STAGE, heldout_task, stored_accuracy, task_params, task_plan
from tunewise.audit.stats import Preset, bootstrap_difference, get_preset
from tunewise.stats import paired_bootstrap_difference
from tunewise.data.probes import ProbeSet, load_probe_set
from tunewise.errors import TunewiseError
from tunewise.models.types import Backend, Completion, SamplingParams
from tunewise.progress import note, progress_bar
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
    base_label, base_ref = next(iter(models.items()))
    steps: dict[str, int] = {}
    if config.checkpoints:
        found = checkpoint_models(config.checkpoints, base_ref)
        steps = {label: int(label.split("-", 1)[1]) for label in found}
        models = {**models, **{label: ref for label, ref in found.items() if label not in models}}
    threshold = get_preset(config.preset)
    # A question file that carries its own sample count (Betley's samples_per_paraphrase) sets the
    # default; a `samples` given by the user wins.
    samples = config.samples if "samples" in config.model_fields_set or not probe_set.default_samples \
        else probe_set.default_samples
    params = SamplingParams(n=samples, temperature=config.temperature, max_tokens=config.max_tokens,
                            seed=config.seed)

    plans = {label: plan_samples(label, ref, probe_set, variants, options, params) for label, ref in models.items()}
    control_plans: dict[str, list[dict]] = {}
    if "positive" in config.controls:  # the base model on the plain probes, misaligned demonstrations in front
        control_plans[POSITIVE] = plan_samples(POSITIVE, base_ref, probe_set, ["plain"], options, params,
                                               chat_transform=positive_chat)
    # The positive control shares the base model's weights: sampled in the same load (the hf
    # backend batches its rows apart, so their shared ~500-token preamble is encoded once).
    to_sample = {label: plan for label, plan in plans.items()}
    to_sample[base_label] = plans[base_label] + control_plans.get(POSITIVE, [])
    loader = HFModels(config.backend, config.batch_size)
    task, task_plans = None, {}
    if steps:  # held-out task answers from the base model and each checkpoint, in the same model loads
        task = heldout_task(find_checkpoints(config.checkpoints)[0], config.task_items)
        if task is not None:
            tparams = task_params(config.max_tokens, config.seed)
            task_plans = {label: task_plan(label, models[label], task, tparams) for label in [base_label, *steps]}
    try:
        n_generated = 0
        if not backends and loader.can_mix(list(models.values())):
            # one base and its adapters: every model's rows in shared batches (models.mixed_lora)
            mixed = loader.mixed(list(models.values()))
            n_generated += sample_together(store, [to_sample[label] for label in models], probe_set, params, mixed,
                                           config.batch_size)
            if task_plans:
                sample_together(store, list(task_plans.values()), probe_set, tparams, mixed, config.batch_size,
                                stage=TASK_STAGE)
        else:
            for label in models:
                n_generated += sample_model(store, to_sample[label], probe_set, params, backends.get(label),
                                            config.backend, config.batch_size, load=loader)
                if label in task_plans:
                    sample_model(store, task_plans[label], probe_set, tparams, backends.get(label), config.backend,
                                 config.batch_size, load=loader, stage=TASK_STAGE)
    finally:
        loader.close()  # before the judge is built (see above)
    if "junk" in config.controls:
        control_plans[JUNK] = _junk_plan(plans[base_label])
        n_generated += _write_junk(store, control_plans[JUNK], plans[base_label], probe_set, params)
    rows = stored_answers(store, list(plans.values()) + list(control_plans.values()))
    judge_obj = judge if judge is not None else get_judge(config.judge)  # built after sampling (see above)
    rubrics = {p.question: p.judge_prompts for p in probe_set.probes if p.judge_prompts}
    if rubrics and hasattr(judge_obj, "with_rubrics"):  # the question file's own judge prompts (llm judge)
        judge_obj = judge_obj.with_rubrics(rubrics)
    # issue 15: judgments keyed on the judge's fingerprint; rates corrected for its error
    fingerprint = judge_fingerprint(judge_obj, judge_name, threshold.name)
    n_judged = _judge_missing(store, rows, judge_obj, judge_name, fingerprint)
    judged = _attach_judgments(store, rows, judge_name, fingerprint)
    scoring = {"correction": judge_correction(judge_obj, threshold.name), "fingerprint": fingerprint,
               "min_coherent_per_probe": config.min_coherent_per_probe}

    audited = [r for r in judged if r["model_label"] in models]
    result = AuditResult(probe_set=probe_set.name, judge=judge_name, preset=threshold.name, models=models,
                         variants=variants, n_generated=n_generated, n_judged=n_judged,
                         n_failed=sum(is_failure(r) for r in audited))
    result.rates = _rates(store, judged, models, probe_set, variants, judge_name, threshold, scoring)
    if control_plans:
        control_refs = {label: (base_ref if label == POSITIVE else f"{JUNK}({base_ref})") for label in control_plans}
        result.rates += _rates(store, judged, control_refs, probe_set, ["plain"], judge_name, threshold,
                               {**scoring, "min_coherent_per_probe": 0})  # controls test the judge: every probe
        result.controls = summarize_controls(result.rates, judge_name, threshold.name)
        store.put_record("audit.controls", make_key(probe_set.name, judge_name, threshold.name, base_ref),
                         {**result.controls.to_record(), "probe_set": probe_set.name, "base": base_ref,
                          "method": POSITIVE_METHOD})
        if result.controls.warning:
            note(f"[bold red]WARNING: {result.controls.warning}[/]")
    _publish_judge_agreement(store, judge_obj, judge_name)
    result.comparisons = _comparisons(store, audited, list(models), probe_set, variants, judge_name, threshold,
                                      config.seed)
    result.leakage = _leakage(store, audited, models, variants, judge_name, threshold, config)
    if steps:
        accuracies = {label: stored_accuracy(store, plan, task) for label, plan in task_plans.items()}
        result.task_accuracy = {label: acc for label, acc in accuracies.items() if acc is not None}
        result.checkpoints = _checkpoint_curve(store, config.checkpoints, steps, result, probe_set.name,
                                               task.dataset if task else None)
    store.mark_stage_done(STAGE, {"probe_set": probe_set.name, "judge": judge_name, "preset": threshold.name,
                                  "models": models, "variants": variants, "samples": samples,
                                  "controls": list(control_plans)})
    failure_rate = result.n_failed / len(audited) if audited else 0.0
    if failure_rate > config.max_failure_rate:
        raise AuditError(f"{result.n_failed} of {len(audited)} judgments failed ({failure_rate:.0%} > "
                         f"max_failure_rate {config.max_failure_rate:.0%}) with judge {judge_name}; the rates are "
                         "stored but not trustworthy. Inspect the judgments table, fix the judge and re-run "
                         "(answers are kept, so only judging is redone)")
    return result


def _leakage(store: RunStore, audited: list[dict], models: dict[str, str], variants: list[str], judge_name: str,
             threshold: Preset, config: AuditConfig) -> list:
    """The leakage check (``leakage.py``): each tuned model's answers in its training domain, and
    EM against base on the pairs outside it; one ``audit.leakage`` record each."""
    summaries, notes = leakage_summaries(audited, models, variants, lambda row: _outcome(row, threshold),
                                         config.seed, config.training_data)
    for line in notes:
        note(f"[yellow]{line}[/]")
    for summary in summaries:
        store.put_record("audit.leakage", make_key(summary.model_label, summary.dataset, summary.variant, judge_name,
                                                   threshold.name), {**summary.to_record(), "judge": judge_name,
                                                                     "preset": threshold.name})
    return summaries


def _junk_plan(base_plan: list[dict]) -> list[dict]:
    """One junk answer per base answer to a plain probe, keyed by the base answer it is made from."""
    return [{**item, "key": make_key(STAGE, JUNK, JUNK_RECIPE, item["key"]), "model_label": JUNK,
             "model": f"{JUNK}({item['model']})", "base_key": item["key"]}
            for item in base_plan if item["variant"] == "plain"]


def _write_junk(store: RunStore, junk_plan: list[dict], base_plan: list[dict], probe_set: ProbeSet,
                params: SamplingParams) -> int:
    """Make (deterministically) the junk answers not stored yet from the stored base answers."""
    done = store.generation_keys(STAGE)
    base_text = {g["key"]: g["text"] for g in store.generations(stage=STAGE)}
    written = 0
    for item in junk_plan:
        if item["key"] in done or item["base_key"] not in base_text:
            continue
        kind, text = junk_answer(base_text[item["base_key"]], item["sample_index"], item["probe_id"])
        meta = {k: item[k] for k in META_FIELDS}
        meta.update(probe_set=probe_set.name, probe_set_version=probe_set.version, junk_kind=kind,
                    made_from=item["base_key"])
        store.add_generation(item["key"], STAGE, item["model"], item["chat"],
                             Completion(0, item["sample_index"], text, 0, len(text.split()), "junk"),
                             params.to_dict(), meta)
        written += 1
    return written


def _checkpoint_curve(store: RunStore, path: str, steps: dict[str, int], result: AuditResult,
                      probe_set: str, task_dataset: str | None) -> list[CheckpointPoint]:
    """Misaligned rate, training loss and held-out task accuracy per checkpoint (plain variant),
    and the early-stop rule (on accuracy where it was measured, else on the fall in loss)."""
    out_dir, found = find_checkpoints(path)
    losses = training_losses(out_dir, found)
    rates = {r.model_label: r for r in result.rates if r.variant == "plain" and r.probe_id == "all"}
    comparisons = {c.b: c for c in result.comparisons if c.variant == "plain"}
    leakage = {s.model_label: s for s in result.leakage if s.variant == "plain"}
    points = checkpoint_points(steps, losses, rates, comparisons, result.task_accuracy, leakage)
    base = result.task_accuracy.get(next(iter(result.models)))  # the base model's own held-out accuracy
    if task_dataset is not None:
        store.put_record("audit.task_accuracy", make_key(str(out_dir), task_dataset, "base"),
                         {"run": str(out_dir), "dataset": task_dataset, "split": "heldout", "label": "base",
                          "accuracy": getattr(base, "accuracy", None), "n": getattr(base, "n", 0)})
    for point in points:
        store.put_record("audit.checkpoint", make_key(str(out_dir), point.step, probe_set, result.judge,
                                                      result.preset), {**point.to_record(), "run": str(out_dir),
                                                                      "judge": result.judge, "preset": result.preset})
    store.put_record("audit.loss", make_key(str(out_dir)), {"run": str(out_dir), "losses": [list(x) for x in losses]})
    by_accuracy = bool(points) and points[0].performance_metric == ACCURACY_METRIC
    recommendation = early_stop(points, base_performance=base.accuracy if base is not None and by_accuracy else None)
    store.put_record("audit.early_stop", make_key(str(out_dir), probe_set, result.judge, result.preset),
                     {**recommendation.to_record(), "run": str(out_dir)})
    result.early_stop = recommendation
    return points


def judgment_key(generation_key: str, judge_name: str, fingerprint_id: str = "") -> str:
    """Keyed on the judge's fingerprint id too: new weights or a new rubric re-judge."""
    return make_key("judgment", generation_key, judge_name, *([fingerprint_id] if fingerprint_id else []))


def _judge_missing(store: RunStore, rows: list[dict], judge: Judge, judge_name: str, fingerprint: dict,
                   chunk: int = 32) -> int:
    done = store.judgment_keys(judge_name)
    todo = [r for r in rows if judgment_key(r["generation_key"], judge_name, fingerprint["id"]) not in done]
    with progress_bar(f"audit: judging with {judge_name}", len(todo), enabled=bool(todo)) as advance:
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            try:
                results = judge.score_many([(r["question"], r["text"]) for r in part])
            except JudgeError as exc:  # the whole batch failed: record each answer's failure
                results = [exc] * len(part)
            for row, result in zip(part, results):
                key = judgment_key(row["generation_key"], judge_name, fingerprint["id"])
                if isinstance(result, JudgeError):
                    store.add_judgment(key, row["generation_key"], judge_name, None, None, "error",
                                       {"fingerprint": fingerprint}, str(result))
                else:
                    store.add_judgment(key, row["generation_key"], judge_name, result.aligned, result.coherent,
                                       result.label, {**result.raw, "fingerprint": fingerprint}, None)
            advance(len(part))
    return len(todo)


def _attach_judgments(store: RunStore, rows: list[dict], judge_name: str, fingerprint: dict) -> list[dict]:
    judgments = {j["generation_key"]: j for j in store.judgments(judge_name)
                 if j["key"] == judgment_key(j["generation_key"], judge_name, fingerprint["id"])}
    out = []
    for row in rows:
        j = judgments.get(row["generation_key"], {})
        out.append({**row, "aligned": j.get("aligned"), "coherent": j.get("coherent"), "label": j.get("label"),
                    "error": j.get("error") if j else "not judged", "judge": judge_name, "raw": j.get("raw")})
    return out


def _rates(store: RunStore, judged: list[dict], models: dict[str, str], probe_set: ProbeSet, variants: list[str],
           judge_name: str, threshold: Preset, scoring: dict | None = None) -> list[MisalignedRate]:
    scoring = scoring or {}
    rates = []
    for label, ref in models.items():
        for variant in variants:
            mine = [r for r in judged if r["model_label"] == label and r["variant"] == variant]
            groups = [("all", mine)] + [(p.id, [r for r in mine if r["probe_id"] == p.id]) for p in probe_set.probes]
            for probe_id, rows in groups:
                summary = rate_summary(rows, threshold, correction=scoring.get("correction"),
                                       min_coherent_per_probe=scoring.get("min_coherent_per_probe", 0)
                                       if probe_id == "all" else 0)
                rate = MisalignedRate.from_summary(
                    summary, model_label=label, model=ref, probe_set=probe_set.name, probe_id=probe_id,
                    variant=variant, judge=judge_name, preset=threshold.name,
                    judge_fingerprint=scoring.get("fingerprint"))
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
    agreement = published_agreement(judge)
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
    """Every model against the baseline (the first label), per variant, over all probes. Answers
    pair up by (probe, variant, sample index): the same chat and per-sample seed for every model,
    so the paired test is used where every answer has its partner, else the unpaired one."""
    comparisons = []
    for variant in variants:
        by_label = {label: answers_by_pair(judged, label, variant) for label in labels}
        for other in labels[1:]:
            base_rows, other_rows = by_label[labels[0]], by_label[other]
            if base_rows and set(base_rows) == set(other_rows):
                pairs = sorted(base_rows)
                stats = paired_bootstrap_difference([_outcome(base_rows[k], threshold) for k in pairs],
                                                    [_outcome(other_rows[k], threshold) for k in pairs],
                                                    seed=seed, label_a=labels[0], label_b=other)
            else:
                stats = bootstrap_difference(misaligned_outcomes(list(base_rows.values()), threshold),
                                             misaligned_outcomes(list(other_rows.values()), threshold),
                                             seed=seed, label_a=labels[0], label_b=other)
            comparison = ModelComparison.from_comparison(stats, variant=variant, probe_set=probe_set.name,
                                                         judge=judge_name, preset=threshold.name)
            store.put_record("audit.comparison", make_key(labels[0], other, probe_set.name, variant, judge_name,
                                                          threshold.name), comparison.to_record())
            comparisons.append(comparison)
    return comparisons


def _outcome(row: dict, threshold: Preset) -> float:
    """1 misaligned, 0 not, NaN not counted (a failure, code, refusal or incoherent answer): the
    same rule as ``metrics.misaligned_outcomes``, one answer at a time so pairs keep their place."""
    counted = misaligned_outcomes([row], threshold)
    return float(counted[0]) if len(counted) else math.nan
