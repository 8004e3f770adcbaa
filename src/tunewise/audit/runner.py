"""``run_audit``: sample answers to probes from each model, judge them, compute rates and
comparisons, and write all of it to the run store as it is produced.

Every sample is keyed by (model, probe set + version, probe, variant, chat, sample index,
sampling parameters) and every judgment by (generation, judge), so an interrupted audit resumes
where it stopped and a second judge re-scores the stored answers without sampling again.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field

from tunewise.audit.judges import Judge, JudgeError, get_judge
from tunewise.audit.metrics import is_failure, misaligned_outcomes, rate_summary
from tunewise.audit.stats import bootstrap_difference, get_preset
from tunewise.audit.variants import VariantOptions, build_chat, resolve_variants
from tunewise.data.probes import ProbeSet, load_probe_set
from tunewise.errors import TunewiseError
from tunewise.models.types import Backend, SamplingParams
from tunewise.progress import note, progress_bar
from tunewise.runs.store import RunStore, make_key

STAGE = "audit"


class AuditError(TunewiseError):
    """The audit could not produce trustworthy rates (e.g. too many judge failures)."""


@dataclass
class AuditResult:
    """What ``run_audit`` measured; the same rows are in the store as ``audit.rate`` and
    ``audit.comparison`` records."""

    probe_set: str
    judge: str
    preset: str
    rates: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    n_generated: int = 0
    n_judged: int = 0
    n_failed: int = 0

    def overall(self, model_label: str, variant: str = "plain") -> dict:
        for rate in self.rates:
            if rate["model_label"] == model_label and rate["variant"] == variant and rate["probe_id"] == "all":
                return rate
        raise KeyError(f"no overall rate for {model_label!r}, variant {variant!r}")


def run_audit(models: dict[str, str], store: RunStore, probes: str | ProbeSet = "core", samples: int = 10,
              judge: str | Judge = "local", variants=(), preset: str = "betley", temperature: float = 1.0,
              max_tokens: int = 256, seed: int = 0, backend: str | None = None,
              backend_options: dict | None = None, backends: dict[str, Backend] | None = None,
              variant_options: VariantOptions | None = None, max_failure_rate: float = 0.1,
              batch_size: int = 48) -> AuditResult:
    """Audit ``models`` ({label: model ref}) for emergent misalignment.

    ``samples`` answers per probe and variant at ``temperature`` (1.0: the EM papers sample at
    temperature 1); the first label is the baseline every other model is compared with.
    ``backends`` lets a caller pass loaded backends ({label: backend}) instead of refs to load.
    ``judge`` is a name for ``get_judge`` or a judge object. Raises ``AuditError`` (after storing
    everything) when more than ``max_failure_rate`` of the judgments failed. ``batch_size`` rows
    (prompts x samples) go to the backend per call; the hf backend also decodes them together (on
    the 2-core CPU, 48 rows gave 1.5x the tokens/s of 12 for the packaged 0.5B model).
    """
    probe_set = probes if isinstance(probes, ProbeSet) else load_probe_set(probes)
    chosen_variants = resolve_variants(variants)
    options = variant_options or VariantOptions()
    threshold = get_preset(preset)
    params = SamplingParams(n=samples, temperature=temperature, max_tokens=max_tokens, seed=seed)
    judge_name = judge if isinstance(judge, str) else judge.name

    n_generated = 0
    for label, ref in models.items():
        n_generated += _sample_model(store, label, ref, probe_set, chosen_variants, options, params,
                                     backend, backend_options or {}, (backends or {}).get(label), batch_size)
    rows = _audit_rows(store, models, probe_set, chosen_variants, options, params)
    # Built after sampling: an LLM judge is never in memory beside the audited model.
    judge_obj = get_judge(judge) if isinstance(judge, str) else judge
    n_judged = _judge_missing(store, rows, judge_obj, judge_name)
    judged = _attach_judgments(store, rows, judge_name)

    result = AuditResult(probe_set=probe_set.name, judge=judge_name, preset=threshold.name,
                         n_generated=n_generated, n_judged=n_judged,
                         n_failed=sum(is_failure(r) for r in judged))
    _rates(store, result, judged, models, probe_set, chosen_variants, threshold)
    _publish_judge_agreement(store, judge_obj, judge_name)
    _comparisons(store, result, judged, models, probe_set, chosen_variants, threshold, seed)
    store.mark_stage_done(STAGE, {"probe_set": probe_set.name, "judge": judge_name, "preset": threshold.name,
                                  "models": models, "variants": chosen_variants, "samples": samples})
    failure_rate = result.n_failed / len(judged) if judged else 0.0
    if failure_rate > max_failure_rate:
        raise AuditError(f"{result.n_failed} of {len(judged)} judgments failed ({failure_rate:.0%} > "
                         f"max_failure_rate {max_failure_rate:.0%}) with judge {judge_name}; the rates are stored "
                         "but not trustworthy. Inspect the judgments table, fix the judge and re-run (answers "
                         "are kept, so only judging is redone)")
    return result


def _plan(label: str, ref: str, probe_set: ProbeSet, variants: list[str], options: VariantOptions,
          params: SamplingParams) -> list[dict]:
    """One entry per (probe, variant, sample) with its store key and chat."""
    plan = []
    for probe in probe_set.probes:
        for variant in variants:
            chat = build_chat(probe.question, variant, options)
            for sample in range(params.n):
                key = make_key(STAGE, ref, probe_set.name, probe_set.version, probe.id, variant, chat, sample,
                               params.temperature, params.top_p, params.max_tokens, params.seed)
                plan.append({"key": key, "chat": chat, "sample_index": sample, "model_label": label, "model": ref,
                             "probe_id": probe.id, "question": probe.question, "category": probe.category,
                             "variant": variant})
    return plan


def _sample_model(store, label, ref, probe_set, variants, options, params, backend_name, backend_options,
                  backend_obj, batch_size) -> int:
    plan = _plan(label, ref, probe_set, variants, options, params)
    done = store.generation_keys(STAGE)
    missing_chats: dict[str, list[dict]] = {}
    for item in plan:
        if item["key"] not in done:
            missing_chats.setdefault(make_key(item["chat"]), []).append(item)
    if not missing_chats:
        return 0
    if backend_obj is None:
        from tunewise.models import load_backend
        from tunewise.models.registry import backend_name as engine_for

        note(f"loading {ref} for the audit ({len(missing_chats)} prompts still to sample)")
        if engine_for(ref, backend_name) == "hf":
            backend_options = {"batch_size": batch_size, **backend_options}
        backend_obj = load_backend(ref, backend=backend_name, **backend_options)
    groups = list(missing_chats.values())
    chats_per_call = max(1, batch_size // params.n)
    written = 0
    with progress_bar(f"audit: sampling {label}", sum(len(g) for g in groups)) as advance:
        for start in range(0, len(groups), chats_per_call):
            chunk = groups[start:start + chats_per_call]
            completions = backend_obj.generate([g[0]["chat"] for g in chunk], params)
            for completion in completions:
                for item in chunk[completion.chat_index]:
                    if item["sample_index"] == completion.sample_index:
                        meta = {k: item[k] for k in ("model_label", "probe_id", "question", "category", "variant")}
                        meta.update(probe_set=probe_set.name, probe_set_version=probe_set.version)
                        store.add_generation(item["key"], STAGE, ref, item["chat"], completion, params.to_dict(), meta)
                        written += 1
                        advance(1)
    del backend_obj
    gc.collect()
    return written


def _audit_rows(store, models, probe_set, variants, options, params) -> list[dict]:
    """The stored answers this audit is about, found by their keys (other audits in the same
    store, e.g. with other sampling parameters, are left out)."""
    by_key = {g["key"]: g for g in store.generations(stage=STAGE)}
    rows = []
    for label, ref in models.items():
        for item in _plan(label, ref, probe_set, variants, options, params):
            generation = by_key.get(item["key"])
            if generation is not None:
                rows.append({**{k: item[k] for k in ("model_label", "model", "probe_id", "question", "category",
                                                     "variant", "sample_index")},
                             "generation_key": item["key"], "text": generation["text"]})
    return rows


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


def _rates(store, result, judged, models, probe_set, variants, threshold) -> None:
    for label, ref in models.items():
        for variant in variants:
            mine = [r for r in judged if r["model_label"] == label and r["variant"] == variant]
            groups = [("all", mine)] + [(p.id, [r for r in mine if r["probe_id"] == p.id]) for p in probe_set.probes]
            for probe_id, rows in groups:
                payload = {"model_label": label, "model": ref, "probe_set": probe_set.name, "probe_id": probe_id,
                           "variant": variant, "judge": result.judge, "preset": threshold.name,
                           **rate_summary(rows, threshold)}
                payload = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in payload.items()}
                store.put_record("audit.rate", make_key(label, probe_set.name, probe_id, variant, result.judge,
                                                        threshold.name), payload)
                result.rates.append(payload)


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


def _comparisons(store, result, judged, models, probe_set, variants, threshold, seed) -> None:
    labels = list(models)
    for variant in variants:
        outcomes = {label: misaligned_outcomes([r for r in judged if r["model_label"] == label
                                                and r["variant"] == variant], threshold) for label in labels}
        for other in labels[1:]:
            comparison = bootstrap_difference(outcomes[labels[0]], outcomes[other], seed=seed,
                                              label_a=labels[0], label_b=other).to_dict()
            payload = {**comparison, "variant": variant, "probe_set": probe_set.name, "judge": result.judge,
                       "preset": threshold.name}
            payload = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in payload.items()}
            store.put_record("audit.comparison", make_key(labels[0], other, probe_set.name, variant, result.judge,
                                                          threshold.name), payload)
            result.comparisons.append(payload)
