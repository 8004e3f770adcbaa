"""One base model holding several LoRA adapters at once, so the base and every adapter answer in
one batch.

On a CPU the matrix products run several times faster with many rows than with few (2 cores,
896x4864 float32: 36 GFLOP/s at 30 rows, 78 at 128, 99 at 256), and an audit or a persona
monitor asks each model only a few dozen rows (the quick demo: 20 per model). Asked one model at
a time, every step is a small product; with PEFT's mixed-adapter batches (``adapter_names``) the
frozen base weights run once over the rows of every model and each adapter's low-rank product
over its own rows. The weights are never merged or modified, so each row computes what its own
model computes alone, up to floating-point rounding of batched products.

``MixedLora(refs)`` needs every ref to be one base (``packaged:...``, ``hf:...``) or that base
plus a LoRA adapter (``+lora:DIR``); ``can_mix(refs)`` says whether they are.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from tunewise.models.refs import parse_model_ref
from tunewise.models.types import Chat, Completion, SamplingParams

if TYPE_CHECKING:  # torch loads only when a MixedLora is built: `tunewise run --dry-run` asks can_mix without it
    from tunewise.models.hf import HFBackend


def can_mix(refs: list[str], backend_name: str | None = None) -> bool:
    """True when ``refs`` run on the hf engine and are one base model and LoRA adapters of it,
    at least one (a model alone gains nothing from a mixed batch)."""
    from tunewise.models.registry import backend_name as engine_for

    if any(engine_for(ref, backend_name) != "hf" for ref in refs):
        return False
    parsed = [parse_model_ref(ref) for ref in refs]
    return len({str(p.without_lora()) for p in parsed}) == 1 and any(p.lora for p in parsed)


class MixedLora:
    """The base of ``refs`` loaded once with each ref's adapter beside the others (PEFT named
    adapters); ``generate(requests, params)`` answers (ref, chat) pairs of any of them together.
    ``base``: an ``HFBackend`` already holding that base model, to use instead of a second load
    (its modules hold the adapters until ``close()``)."""

    def __init__(self, refs: list[str], batch_size: int = 128, show_progress: bool = True,
                 trust_pickle: bool = False, base: HFBackend | None = None):
        from tunewise.models.hf import BASE_ADAPTER, HFBackend
        from tunewise.models.loading import add_lora, apply_lora, load_causal_lm, lora_dtype_name, needs_reload_for_lora

        parsed = {ref: parse_model_ref(ref) for ref in dict.fromkeys(refs)}
        bases = {str(p.without_lora()) for p in parsed.values()}
        if len(bases) != 1:
            raise ValueError(f"a mixed-adapter batch needs one base model; got {', '.join(sorted(bases))}")
        self.base_ref = bases.pop()
        with_adapters = any(p.lora for p in parsed.values())
        if (base is not None and str(parse_model_ref(base.model_ref).without_lora()) == self.base_ref
                and not (with_adapters and needs_reload_for_lora(base.model))):
            model, tokenizer = base.model, base.tokenizer  # shared: the adapters come out again on close()
        else:  # with adapters, dtype=auto is float32 on a CPU (loading.auto_dtype_name)
            model, tokenizer = load_causal_lm(self.base_ref, dtype=lora_dtype_name() if with_adapters else "auto")
        self.names: dict[str, str] = {}
        peft = None
        for ref, p in parsed.items():
            if not p.lora:
                self.names[ref] = BASE_ADAPTER
                continue
            name = f"adapter{len([n for n in self.names.values() if n != BASE_ADAPTER])}"
            if peft is None:
                peft = apply_lora(model, p.lora, trust_pickle=trust_pickle, adapter_name=name)
            else:
                add_lora(peft, p.lora, name, trust_pickle=trust_pickle)
            self.names[ref] = name
        self._peft = peft
        self._model = (peft if peft is not None else model).eval()
        self.backend = HFBackend.from_model(self._model, tokenizer, model_ref=self.base_ref, batch_size=batch_size,
                                            show_progress=show_progress)

    def generate(self, requests: list[tuple[str, Chat]], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions per (ref, chat), in order (``chat_index`` indexes ``requests``)."""
        unknown = sorted({ref for ref, _ in requests} - set(self.names))
        if unknown:
            raise ValueError(f"not loaded in this mixed batch: {', '.join(unknown)}")
        return self.backend.generate([chat for _, chat in requests], params,
                                     adapters=[self.names[ref] for ref, _ in requests])

    def close(self) -> None:
        """Free the weights; a shared ``base`` gets its own modules back (the LoRA layers out)."""
        if self._peft is not None:
            self._peft.unload()
        self._peft = self._model = self.backend = None
        gc.collect()
