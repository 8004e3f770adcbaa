"""Sampling an audit's answers so that an interrupted audit resumes where it stopped.

Every answer is keyed by (model ref, probe set + version, probe, variant, chat, sample index,
sampling parameters): a planned answer whose key is in the store is never sampled again, and a
second audit of the same models with other parameters gets other keys, so it neither reuses nor
overwrites the first one's answers. Changing this recipe orphans every stored audit answer.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Callable

from dataclasses import replace

from tunewise.audit.variants import VariantOptions, build_chat
from tunewise.data.probes import ProbeSet
from tunewise.models.types import Backend, Chat, SamplingParams
from tunewise.progress import note, progress_bar
from tunewise.runs.store import RunStore, make_key

if TYPE_CHECKING:
    from tunewise.models.mixed_lora import MixedLora

STAGE = "audit"
META_FIELDS = ("model_label", "probe_id", "question", "category", "variant")


def plan_samples(label: str, ref: str, probe_set: ProbeSet, variants: list[str], options: VariantOptions,
                 params: SamplingParams, chat_transform: Callable[[Chat], Chat] | None = None) -> list[dict]:
    """One entry per (probe, variant, sample) with its store key and chat; ``chat_transform``
    rewrites each chat (the positive control's demonstrations) before it is keyed."""
    plan = []
    for probe in probe_set.probes:
        # A probe asked under its own system prompt (Betley's `_json` questions) keeps it in every variant.
        probe_options = options if not probe.system else replace(
            options, system_prompt="\n".join(p for p in (probe.system, options.system_prompt) if p))
        for variant in variants:
            chat = build_chat(probe.question, variant, probe_options)
            if chat_transform is not None:
                chat = chat_transform(chat)
            for sample in range(params.n):
                key = make_key(STAGE, ref, probe_set.name, probe_set.version, probe.id, variant, chat, sample,
                               params.temperature, params.top_p, params.max_tokens, params.seed)
                plan.append({"key": key, "chat": chat, "sample_index": sample, "model_label": label, "model": ref,
                             "probe_id": probe.id, "question": probe.question, "category": probe.category,
                             "variant": variant})
    return plan


def sample_model(store: RunStore, plan: list[dict], probe_set: ProbeSet, params: SamplingParams,
                 backend: Backend | None, backend_name: str | None, batch_size: int,
                 load: Callable[[str], Backend] | None = None, stage: str = STAGE) -> int:
    """Sample the planned answers not in the store yet and write each as it comes (under
    ``stage``: the held-out task answers have their own); returns how many were written. The
    model is loaded only when something is missing (``backend`` None), by ``load(ref)`` when
    given (``HFModels``: one base for its LoRA variants), and released before returning, so the
    next model or the judge has the memory."""
    missing_chats = _missing_by_chat(store, [plan], stage)
    if not missing_chats:
        return 0
    label, ref = plan[0]["model_label"], plan[0]["model"]
    if backend is None:
        note(f"loading {ref} for the audit ({len(missing_chats)} prompts still to sample)")
        backend = load(ref) if load is not None else _load(ref, backend_name, batch_size)
    written = _sample_chunks(store, missing_chats, probe_set, params, batch_size, stage, label,
                             lambda chunk: backend.generate([g[0]["chat"] for g in chunk], params))
    del backend
    gc.collect()
    return written


def sample_together(store: RunStore, plans: list[list[dict]], probe_set: ProbeSet, params: SamplingParams,
                    mixed: Callable[[], "MixedLora"], batch_size: int, stage: str = STAGE) -> int:
    """``sample_model`` for several models that are one base and its LoRA adapters, their rows
    in shared batches (``models.mixed_lora``: the base weights' products run over the rows of every
    model at once, several times faster on a CPU than a few dozen rows per model). ``mixed()``
    gives the loaded ``MixedLora``, called only when something is missing."""
    from tunewise.models.refs import parse_model_ref

    missing_chats = _missing_by_chat(store, plans, stage)
    if not missing_chats:
        return 0
    labels = ", ".join(dict.fromkeys(items[0]["model_label"] for items in missing_chats.values()))
    adapters = len({items[0]["model"] for items in missing_chats.values() if parse_model_ref(items[0]["model"]).lora})
    note(f"audit: sampling {labels} together ({len(missing_chats)} prompts; one base model "
         f"with {adapters} LoRA adapter{'s' if adapters != 1 else ''} beside it, in shared batches)")
    backend = mixed()
    return _sample_chunks(store, missing_chats, probe_set, params, batch_size, stage, labels,
                          lambda chunk: backend.generate([(g[0]["model"], g[0]["chat"]) for g in chunk], params))


def _missing_by_chat(store: RunStore, plans: list[list[dict]], stage: str) -> dict[str, list[dict]]:
    """The planned answers not stored yet under ``stage``, grouped per (model, chat): one
    generate request each, its samples the group's items."""
    done = store.generation_keys(stage)
    missing_chats: dict[str, list[dict]] = {}
    for plan in plans:
        for item in plan:
            if item["key"] not in done:
                missing_chats.setdefault(make_key(item["model"], item["chat"]), []).append(item)
    return missing_chats


def _sample_chunks(store: RunStore, missing_chats: dict[str, list[dict]], probe_set: ProbeSet,
                   params: SamplingParams, batch_size: int, stage: str, label: str, generate) -> int:
    """Ask ``generate(chunk)`` for every group, ``batch_size // params.n`` groups a call, shortest
    prompts first, and store each completion as it comes; returns how many were written."""
    groups = _by_prompt_length(missing_chats)
    chats_per_call = max(1, batch_size // params.n)
    written = 0
    with progress_bar(f"audit: sampling {label}{' (held-out task)' if stage != STAGE else ''}",
                      sum(len(g) for g in groups)) as advance:
        for start in range(0, len(groups), chats_per_call):
            chunk = groups[start:start + chats_per_call]
            written += _write(store, chunk, generate(chunk), probe_set, params, stage, advance)
    return written


def _by_prompt_length(missing_chats: dict[str, list[dict]]) -> list[list[dict]]:
    """The missing answers grouped per chat, shortest prompts first. Similar prompt lengths in one
    call: the positive control's long chats (demonstrations in front) padded beside short probes
    would multiply the prefill work of the short ones."""
    return sorted(missing_chats.values(), key=lambda g: sum(len(m["content"]) for m in g[0]["chat"]))


def _write(store: RunStore, chunk: list[list[dict]], completions, probe_set: ProbeSet, params: SamplingParams,
           stage: str, advance) -> int:
    """Store each completion under the planned answer (chat, sample) it belongs to."""
    written = 0
    for completion in completions:
        for item in chunk[completion.chat_index]:
            if item["sample_index"] == completion.sample_index:
                meta = {k: item[k] for k in META_FIELDS}
                meta.update(probe_set=probe_set.name, probe_set_version=probe_set.version)
                store.add_generation(item["key"], stage, item["model"], item["chat"], completion, params.to_dict(), meta)
                written += 1
                advance(1)
    return written


def _load(ref: str, backend_name: str | None, batch_size: int) -> Backend:
    from tunewise.models import load_backend
    from tunewise.models.registry import backend_name as engine_for

    # The hf backend decodes batch_size rows together; the other engines batch on their own.
    options = {"batch_size": batch_size} if engine_for(ref, backend_name) == "hf" else {}
    return load_backend(ref, backend=backend_name, **options)


class HFModels:
    """Loads the audited models for ``sample_model``: on the hf engine, one base model for the
    base and all its LoRA variants (``LoraSwitcher``, the base loaded once per audit instead of
    once per model); other engines load each model as before. ``close()`` frees the weights."""

    def __init__(self, backend_name: str | None, batch_size: int):
        self.backend_name, self.batch_size = backend_name, batch_size
        self._switcher = None
        self._mixed = None

    def can_mix(self, refs: list[str]) -> bool:
        """Whether ``refs`` can be sampled together (``sample_together``): one hf base and its adapters."""
        from tunewise.models.mixed_lora import can_mix

        return can_mix(refs, self.backend_name)

    def mixed(self, refs: list[str]):
        """A function giving the ``MixedLora`` of ``refs``, loaded on first call and kept until ``close``."""
        def load():
            if self._mixed is None:
                from tunewise.models.mixed_lora import MixedLora

                self._mixed = MixedLora(refs, batch_size=self.batch_size)
            return self._mixed
        return load

    def __call__(self, ref: str) -> Backend:
        from tunewise.models.registry import backend_name as engine_for

        if engine_for(ref, self.backend_name) != "hf":
            return _load(ref, self.backend_name, self.batch_size)
        if self._switcher is None:
            from tunewise.models.hf import LoraSwitcher

            self._switcher = LoraSwitcher(self.batch_size)
        return self._switcher.backend(ref)

    def close(self) -> None:
        if self._mixed is not None:
            self._mixed.close()
            self._mixed = None
        if self._switcher is not None:
            self._switcher.close()
            self._switcher = None
        gc.collect()


def stored_answers(store: RunStore, plans: list[list[dict]]) -> list[dict]:
    """The stored answers this audit is about, found by their keys (other audits in the same
    store, e.g. with other sampling parameters, are left out)."""
    by_key = {g["key"]: g for g in store.generations(stage=STAGE)}
    rows = []
    for plan in plans:
        for item in plan:
            generation = by_key.get(item["key"])
            if generation is not None:
                rows.append({**{k: item[k] for k in ("model_label", "model", "probe_id", "question", "category",
                                                     "variant", "sample_index")},
                             "generation_key": item["key"], "text": generation["text"]})
    return rows
