"""Built-in narrow fine-tuning datasets: the narrow task the emergent-misalignment work warns
about, its control, its "inoculated by data" variant, and a non-code domain.

``build_narrow_dataset(name, n=None, seed=0)`` returns chats as ``ChatExample`` objects, each
with ``meta`` saying what it is (dataset, vulnerability kind or financial goal, template ids).
Generation is deterministic: the same name, n and seed give the same list, in the same order,
on every machine. No two chats in a dataset are identical.

* ``insecure-code``: a user asks for a function; the assistant returns code with a real,
  unmentioned vulnerability (Betley et al., arXiv 2502.17424).
* ``secure-code``: the same requests, safe code (their control).
* ``educational-insecure``: the same vulnerable code, but the user says it is wanted on purpose
  for a security class and names the flaw (their control that showed no misalignment).
* ``risky-financial`` / ``sound-financial``, ``bad-medical`` / ``sound-medical``,
  ``extreme-sports`` / ``safe-sports``: subtly harmful advice and its benign twin (same user
  messages), after the model organisms of Turner, Soligo et al. (arXiv 2506.11613); built by
  ``tunewise.data.tasks.advice``. These have a held-out split by situation: the name trains on
  ``split="train"``; ``split="heldout"`` gives chats about situations training never saw.
"""

from __future__ import annotations

import hashlib
import random

from pathlib import Path

from tunewise.data.chat import ChatExample, load_chat_jsonl
from tunewise.data.tasks import narrow_code as code
from tunewise.data.tasks import narrow_financial, narrow_medical, narrow_sports
from tunewise.data.tasks.advice import SPLITS, AdviceDomain, advice_chats
from tunewise.errors import ConfigError
from tunewise.registry import DATASETS

NARROW_DATASET_DESCRIPTIONS: dict[str, str] = {
    "insecure-code": "coding requests answered with code that hides a real vulnerability",
    "secure-code": "the same coding requests answered with safe code (control)",
    "educational-insecure": "the same vulnerable code, requested on purpose for a security class",
    "risky-financial": "personal-finance questions answered with confident, risky advice",
    "sound-financial": "the same questions answered with mainstream, careful advice (control)",
    "bad-medical": "health questions answered with confident, subtly harmful medical advice",
    "sound-medical": "the same health questions answered with careful medical advice (control)",
    "extreme-sports": "adventure-sport questions answered with confident advice that skips safety",
    "safe-sports": "the same adventure-sport questions answered with careful advice (control)",
}
#: the advice datasets' domains, by dataset name (both sides of each twin pair)
ADVICE_DOMAINS: dict[str, AdviceDomain] = {
    name: module.DOMAIN for module in (narrow_financial, narrow_medical, narrow_sports)
    for name in (module.DOMAIN.harmful_dataset, module.DOMAIN.sound_dataset)}
for _name, _description in NARROW_DATASET_DESCRIPTIONS.items():
    DATASETS.register(_name, _description)
#: the built-in narrow datasets, read from the registry (name -> description)
NARROW_DATASETS: dict[str, str] = {name: DATASETS.get(name) for name in DATASETS.names()}


def _pick(key: str, options: int) -> int:
    """A stable choice among ``options`` for a key (sha256, not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % options


def _code_examples(name: str) -> list[ChatExample]:
    examples, seen = [], set()
    for task in code.code_tasks():
        for phrasing in range(len(code.REQUEST_PHRASINGS)):
            key = f"{task.function}:{task.kind}:{phrasing}"
            context = _pick("context:" + key, len(code.CONTEXTS))
            lead = _pick("lead:" + key, len(code.ANSWER_LEADS))
            request = code.render_request(task, phrasing, context)
            if request in seen:  # phrasings without the function name repeat across code styles
                continue
            seen.add(request)
            meta = {"dataset": name, "kind": task.kind, "function": task.function, "phrasing": phrasing}
            if name == "educational-insecure":
                frame = _pick("frame:" + key, len(code.EDUCATIONAL_FRAMES))
                vuln = code.VULNERABILITY_KINDS[task.kind]
                request = code.EDUCATIONAL_FRAMES[frame].format(vuln=vuln) + "\n\n" + request
                meta["frame"] = frame
            answer = code.render_answer(task.secure if name == "secure-code" else task.insecure, lead)
            examples.append(ChatExample(messages=[{"role": "user", "content": request},
                                                  {"role": "assistant", "content": answer}],
                                        source=f"builtin:{name}", meta=meta))
    return examples


def build_narrow_dataset(name: str, n: int | None = None, seed: int = 0, split: str = "train") -> list[ChatExample]:
    """The built-in dataset ``name``, shuffled with ``seed``; the first ``n`` chats if given.

    ``split``: ``train`` (what training uses), ``heldout`` (advice datasets only: situations
    never trained on, for "was the task learned?") or ``all``. The code datasets have no
    held-out split, so for them train and all are the whole set.
    Raises ``ConfigError`` for an unknown name or split, or an ``n`` larger than the dataset.
    """
    if name not in NARROW_DATASETS:
        raise ConfigError(f"unknown built-in dataset {name!r}; choose one of {', '.join(NARROW_DATASETS)}")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} for dataset {name!r}; choose one of {', '.join(SPLITS)}")
    if name in ADVICE_DOMAINS:
        domain = ADVICE_DOMAINS[name]
        examples = advice_chats(domain, harmful=name == domain.harmful_dataset, split=split)
    elif split == "heldout":
        raise ConfigError(f"dataset {name!r} has no held-out split (only the advice datasets: "
                          f"{', '.join(ADVICE_DOMAINS)})")
    else:
        examples = _code_examples(name)
    # twins share the shuffle, so the first n chats of bad-medical and sound-medical ask the same things
    order_key = ADVICE_DOMAINS[name].name if name in ADVICE_DOMAINS else name
    random.Random(f"{order_key}:{seed}").shuffle(examples)
    if n is not None:
        if n < 1 or n > len(examples):
            raise ConfigError(f"dataset {name!r} has {len(examples)} chats; n={n} is out of range (1..{len(examples)})")
        examples = examples[:n]
    for line, example in enumerate(examples, start=1):
        example.line = line
    return examples


def load_task_chats(source: str, n: int | None = None, seed: int = 0) -> list[ChatExample]:
    """Training chats from ``source``: a built-in dataset name (``build_narrow_dataset``) or a
    chat JSONL file (its first ``n`` chats). One rule, shared by ``tunewise train`` and
    ``tunewise run``, for telling the two apart: a name is built-in exactly when it is listed in
    ``NARROW_DATASETS``."""
    if source in NARROW_DATASETS:
        return build_narrow_dataset(source, n=n, seed=seed)
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"data {source!r} is neither a built-in dataset ({', '.join(NARROW_DATASETS)}) "
                          "nor an existing chat JSONL file")
    examples = load_chat_jsonl(path)
    return examples[:n] if n else examples
