"""Sampling answers with resume: every answer is written to the run store as its batch finishes,
and answers already there are not sampled again (extraction and screening are the long parts)."""

from __future__ import annotations

from tunewise.models.types import Chat, SamplingParams
from tunewise.progress import progress_bar
from tunewise.runs.store import RunStore, make_key


def sample_answers(backend, chats: list[Chat], params: SamplingParams, store: RunStore | None = None,
                   stage: str = "persona", description: str = "sampling") -> list[list[str]]:
    """``params.n`` answers per chat, ``answers[chat][sample]``; cached in ``store`` under ``stage``."""
    def key(chat: Chat, sample: int) -> str:
        return make_key(stage, backend.model_ref, chat, params.to_dict(), sample)

    done = {row["key"]: row["text"] for row in store.generations(stage=stage, model=backend.model_ref)} if store else {}
    missing = [i for i, chat in enumerate(chats) if any(key(chat, s) not in done for s in range(params.n))]
    chunk = max(1, backend.batch_size // max(1, params.n))
    with progress_bar(f"{description} ({backend.model_ref})", len(missing), enabled=len(missing) > chunk) as advance:
        for start in range(0, len(missing), chunk):
            batch = [chats[i] for i in missing[start:start + chunk]]
            for completion in backend.generate(batch, params):
                chat = batch[completion.chat_index]
                done[key(chat, completion.sample_index)] = completion.text
                if store is not None:
                    store.add_generation(key(chat, completion.sample_index), stage, backend.model_ref, chat,
                                         completion, params.to_dict())
            advance(len(batch))
    return [[done[key(chat, s)] for s in range(params.n)] for chat in chats]
