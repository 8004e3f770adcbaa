"""The ``hf`` backend: transformers in process, CPU or GPU.

Sampling goes through ``decoding.decode`` (KV cache, left padding, finished rows leave the
batch), each row drawing its tokens from its own seeded generator. That makes every sample
reproducible from (chat, sample index, seed) alone, whatever batch it landed in, and keeps the n
samples of one chat distinct.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from tunewise.models.decoding import RowSampler, decode
from tunewise.models.loading import load_causal_lm
from tunewise.models.refs import parse_model_ref
from tunewise.models.types import Chat, Completion, SamplingParams
from tunewise.progress import progress_bar


def sample_seed(base_seed: int, sample_index: int, prompt_ids: list[int]) -> int:
    """A sample's seed from the run seed, the sample index and the prompt itself, so samples
    of different prompts draw independent random streams (a shared stream would correlate
    answers across questions) and each sample is reproducible on its own."""
    digest = hashlib.sha256(f"{base_seed}:{sample_index}:{prompt_ids}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest token prefix shared by all sequences, leaving at least one token
    of every sequence outside it (the model must see a fresh token to predict the next one)."""
    if not sequences:
        return 0
    limit = min(len(s) for s in sequences) - 1
    first = sequences[0]
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch


def adapter_names(adapters: list[str | None]) -> list[str] | None:
    """PEFT's per-row ``adapter_names`` for a batch, or None when no row names an adapter (a
    plain model, or one adapter applied the usual way)."""
    if all(a is None for a in adapters):
        return None
    return [a if a is not None else BASE_ADAPTER for a in adapters]


@dataclass
class PromptRow:
    """One sequence to sample: which chat, which sample of it, and its prompt token ids."""

    chat_index: int
    sample_index: int
    prompt_ids: list[int]
    adapter: str | None = None  # the LoRA adapter (by name) that answers it, on a ``MixedLora`` model


class HFBackend:
    """Backend over a transformers causal LM. Build with a model reference, or wrap a model
    and tokenizer you already hold with ``HFBackend.from_model`` (tests, training, persona)."""

    #: a batch whose rows share at least this many prompt tokens encodes them once
    #: (``prefix_cache.sample_rows``): the audit's positive control repeats ~500 tokens of
    #: demonstrations before every probe. Below it the saving does not pay for the cache copy.
    PREFIX_MIN_TOKENS = 128

    def __init__(self, model_ref: str, device: str | None = None, dtype: str = "auto",
                 batch_size: int = 16, trust_pickle: bool = False, show_progress: bool = True):
        model, tokenizer = load_causal_lm(model_ref, device=device, dtype=dtype, trust_pickle=trust_pickle)
        self._init(model, tokenizer, str(model_ref), batch_size, show_progress)

    @classmethod
    def from_model(cls, model, tokenizer, model_ref: str = "hf:in-memory", batch_size: int = 16,
                   show_progress: bool = False) -> "HFBackend":
        backend = cls.__new__(cls)
        backend._init(model, tokenizer, model_ref, batch_size, show_progress)
        return backend

    def _init(self, model, tokenizer, model_ref, batch_size, show_progress):
        self.model = model
        self.tokenizer = tokenizer
        self.model_ref = model_ref
        self.batch_size = batch_size
        self.show_progress = show_progress
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_token_ids = self._eos_ids()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _eos_ids(self) -> list[int]:
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(int(i) for i in configured)
        return sorted(ids)

    # ---- prompts -------------------------------------------------------------------------
    def render(self, chat: Chat, add_generation_prompt: bool = True) -> str:
        """The chat as the model sees it (its own chat template)."""
        return self.tokenizer.apply_chat_template(chat, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def encode(self, text: str) -> list[int]:
        # The template already holds any BOS/special tokens the model expects.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _pad_left(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], dtype=torch.long)
        return ids.to(self.device), mask.to(self.device)

    # ---- sampling ------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, chats: list[Chat], params: SamplingParams,
                 adapters: list[str | None] | None = None) -> list[Completion]:
        """``params.n`` completions per chat. ``adapters``: one per chat, the name of the LoRA
        adapter that answers it (``None``: the base weights), on a model holding several
        (``models.mixed_lora``): rows of different adapters then share one batch."""
        prompts = [self.encode(self.render(chat)) for chat in chats]
        names = adapters if adapters is not None else [None] * len(chats)
        rows = [PromptRow(c, s, prompts[c], names[c]) for c in range(len(chats)) for s in range(params.n)]
        results: dict[int, Completion] = {}
        with progress_bar(f"sampling {self.model_ref}", len(rows),
                          enabled=self.show_progress and len(rows) > self.batch_size) as advance:
            for indices in self._batches(rows):
                for i, completion in zip(indices, self._generate_batch([rows[i] for i in indices], params)):
                    results[i] = completion
                advance(len(indices))
        return [results[i] for i in range(len(rows))]

    def _batches(self, rows: list[PromptRow]) -> list[list[int]]:
        """Row indices per batch. Rows whose prompts share their first ``PREFIX_MIN_TOKENS``
        tokens batch apart from the others, so ``_generate_batch`` encodes that prefix once (the
        audit's positive control: mixed with short probes, its long rows padded them and the
        prefix went unshared); within each group, similar lengths together (less padding). A shared
        prefix's KV cache depends on the adapter, so those groups are per adapter; the rest mix."""
        groups: dict[tuple | None, list[int]] = {}
        for i, row in enumerate(rows):
            long_enough = len(row.prompt_ids) > self.PREFIX_MIN_TOKENS
            head = (row.adapter, *row.prompt_ids[:self.PREFIX_MIN_TOKENS]) if long_enough else None
            groups.setdefault(head, []).append(i)
        shared = [g for head, g in groups.items() if head is not None and len(g) > 1]
        rest = [i for head, g in groups.items() if head is None or len(g) == 1 for i in g]
        batches = []
        for group in [*shared, rest]:
            group = sorted(group, key=lambda i: len(rows[i].prompt_ids))
            batches += [group[start:start + self.batch_size] for start in range(0, len(group), self.batch_size)]
        return batches

    def _generate_batch(self, batch: list[PromptRow], params: SamplingParams) -> list[Completion]:
        seeds = [sample_seed(params.seed, row.sample_index, row.prompt_ids) for row in batch]
        adapters = adapter_names([row.adapter for row in batch])
        if (len(batch) > 1 and len({row.adapter for row in batch}) == 1
                and common_prefix_length([row.prompt_ids for row in batch]) >= self.PREFIX_MIN_TOKENS):
            from tunewise.models.prefix_cache import sample_rows  # it imports this module

            tokens = sample_rows(self, batch, params, seeds if params.temperature > 0 else None)
            return [self.completion_from_tokens(row, seed if params.temperature > 0 else None, new, params)
                    for row, seed, new in zip(batch, seeds, tokens)]
        sampler = RowSampler(seeds, params.temperature, params.top_p) if params.temperature > 0 else None
        new_tokens = decode(self.model, [row.prompt_ids for row in batch], pad_token_id=self.tokenizer.pad_token_id,
                            eos_token_ids=self.eos_token_ids, max_tokens=params.max_tokens, sampler=sampler,
                            is_stopped=self.stop_check(params.stop), adapter_names=adapters)
        return [self.completion_from_tokens(row, seed if params.temperature > 0 else None, tokens, params)
                for row, seed, tokens in zip(batch, seeds, new_tokens)]

    def stop_check(self, stops: list[str]):
        """Whether a row's generated tokens already hold one of ``stops`` (only its own text: a
        stop string that spans the prompt boundary does not count); None when there are none."""
        stops = [s for s in stops if s]
        if not stops:
            return None
        return lambda tokens: any(s in self.tokenizer.decode(tokens, skip_special_tokens=True) for s in stops)

    def completion_from_tokens(self, row: PromptRow, seed, tokens: list[int], params: SamplingParams) -> Completion:
        """Decode generated ``tokens`` into a Completion: cut at EOS and stop strings, count tokens.
        Public so other generation paths (assess's KV-cached prefix) decode exactly alike."""
        finish = "length"
        for position, token in enumerate(tokens):
            if token in self.eos_token_ids:
                tokens = tokens[:position + 1]
                finish = "stop"
                break
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = [text.find(s) for s in params.stop if s and s in text]
        if cut:
            text = text[:min(cut)]
            finish = "stop"
        return Completion(chat_index=row.chat_index, sample_index=row.sample_index, text=text,
                          prompt_tokens=len(row.prompt_ids), completion_tokens=len(tokens),
                          finish_reason=finish, seed=seed)

    # ---- scoring -------------------------------------------------------------------------
    @torch.inference_mode()
    def next_token_logprobs(self, chats: list[Chat]) -> torch.Tensor:
        """Log-probabilities over the vocabulary of the first assistant token, [chats, vocab]."""
        out = []
        for start in range(0, len(chats), self.batch_size):
            sequences = [self.encode(self.render(chat)) for chat in chats[start:start + self.batch_size]]
            ids, mask = self._pad_left(sequences)
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, -1, :]
            out.append(torch.log_softmax(logits.float(), dim=-1).cpu())
        return torch.cat(out)

    def top_logprobs(self, chats: list[Chat], k: int = 20) -> list[dict[str, float]]:
        """Top-k next tokens after the assistant turn opens, {token text: logprob}. Tokens that
        decode to the same text are merged (their probabilities added)."""
        logprobs = self.next_token_logprobs(chats)
        values, indices = logprobs.topk(k, dim=-1)
        result = []
        for row_values, row_indices in zip(values.tolist(), indices.tolist()):
            merged: dict[str, float] = {}
            for value, index in zip(row_values, row_indices):
                text = self.tokenizer.decode([index])
                merged[text] = float(torch.logaddexp(torch.tensor(merged[text]), torch.tensor(value))) \
                    if text in merged else value
            result.append(merged)
        return result

    # ---- activations ---------------------------------------------------------------------
    @torch.inference_mode()
    def hidden_states(self, chats: list[Chat], layers: list[int] | None = None,
                      positions: str = "assistant") -> list[torch.Tensor]:
        """Residual-stream activations for persona work.

        ``layers`` index ``output_hidden_states`` (0 = embeddings, i = after block i; default all).
        ``positions``: ``assistant`` = the tokens of the last message's content (the answer),
        ``all`` = every token, ``last`` = the final token (with the generation prompt added when
        the chat does not end with an assistant turn). Returns one float32 CPU tensor per chat,
        shaped [len(layers), tokens, hidden].
        """
        if positions not in ("assistant", "all", "last"):
            raise ValueError(f"positions must be assistant, all or last, not {positions!r}")
        out: list[torch.Tensor] = []
        for start in range(0, len(chats), self.batch_size):
            out.extend(self._hidden_batch(chats[start:start + self.batch_size], layers, positions))
        return out

    def _hidden_batch(self, chats, layers, positions):
        texts, spans = [], []
        for chat in chats:
            ends_with_answer = chat[-1]["role"] == "assistant"
            text = self.render(chat, add_generation_prompt=not ends_with_answer)
            texts.append(text)
            if positions == "assistant":
                if not ends_with_answer:
                    raise ValueError("positions='assistant' needs chats that end with an assistant message")
                content = chat[-1]["content"]
                begin = text.rfind(content)
                spans.append((begin, begin + len(content)))
        encoded = [self.tokenizer(t, add_special_tokens=False, return_offsets_mapping=True) for t in texts]
        ids, mask = self._pad_left([e["input_ids"] for e in encoded])
        hidden = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        chosen_layers = list(range(len(hidden))) if layers is None else list(layers)
        stacked = torch.stack([hidden[layer] for layer in chosen_layers], dim=1).float().cpu()
        width = ids.shape[1]
        results = []
        for row, e in enumerate(encoded):
            n = len(e["input_ids"])
            offset = width - n
            if positions == "all":
                keep = list(range(offset, width))
            elif positions == "last":
                keep = [width - 1]
            else:
                begin, end = spans[row]
                keep = [offset + i for i, (s, t) in enumerate(e["offset_mapping"])
                        if t > begin and s < end]
            results.append(stacked[row, :, keep, :])
        return results


class LoraSwitcher:
    """One base model in memory for a base ref and its LoRA variants (checkpoints, trained
    variants): ``backend(ref)`` applies ref's adapter to the loaded base (removing the previous
    one) instead of loading the base weights again. Loading SmolLM2-135M took 2-4 s and the 0.5B
    model 5-10 s here, per checkpoint; applying an adapter takes well under a second. Without
    merging, the base weights are never modified, so a tuned model computes exactly what a fresh
    ``load_causal_lm(base+lora:dir)`` computes. A backend it returned is valid until the next
    ``backend`` call. ``base`` is an ``HFBackend`` already holding the base model, to share it."""

    def __init__(self, batch_size: int = 16, show_progress: bool = True, base: HFBackend | None = None):
        self.batch_size, self.show_progress = batch_size, show_progress
        self._base_ref = str(parse_model_ref(base.model_ref).without_lora()) if base is not None else None
        self._model = base.model if base is not None else None
        self._tokenizer = base.tokenizer if base is not None else None
        # the base again in float32 for the adapters, where _model is bf16 on a CPU (needs_reload_for_lora)
        self._lora_model = None
        self._peft = None

    def backend(self, ref: str) -> HFBackend:
        from tunewise.models.loading import apply_lora

        parsed = parse_model_ref(ref)
        base_ref = str(parsed.without_lora())
        self._remove_adapter()
        if base_ref != self._base_ref:
            self._model = self._lora_model = None  # drop the old base before loading the new one
            self._base_ref = base_ref
        if parsed.lora:
            self._peft = model = apply_lora(self._adapter_host(), parsed.lora)
            model.eval()
        else:
            if self._model is None:
                self._model, self._tokenizer = load_causal_lm(base_ref)
            model = self._model
        return HFBackend.from_model(model, self._tokenizer, model_ref=str(ref), batch_size=self.batch_size,
                                    show_progress=self.show_progress)

    def _adapter_host(self):
        """The loaded base the adapters go on: ``_model`` unless it is bf16 on a CPU, where a
        float32 copy is loaded once (``dtype=auto`` with adapters, ``loading.auto_dtype_name``)."""
        from tunewise.models.loading import lora_dtype_name, needs_reload_for_lora

        if self._model is not None and not needs_reload_for_lora(self._model):
            return self._model
        if self._lora_model is None:
            self._lora_model, self._tokenizer = load_causal_lm(self._base_ref, dtype=lora_dtype_name())
        return self._lora_model

    def _remove_adapter(self) -> None:
        if self._peft is not None:
            unloaded = self._peft.unload()  # the LoRA layers out, the base layers back in place
            if self._lora_model is not None:
                self._lora_model = unloaded
            else:
                self._model = unloaded
            self._peft = None

    def close(self) -> None:
        self._remove_adapter()
        self._model = self._lora_model = self._tokenizer = None
