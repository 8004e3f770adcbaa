"""Hard cases for a domain gate, generated from in-domain inputs and an out-of-domain pool.

Easy out-of-domain sets (another topic altogether) say little: sentence embeddings separate
topics well. What breaks gates is an input that *looks* in-domain (RESEARCH.md: "domain
shift is easy, shifts in background or word order are hard"). Each generator returns a
``HardCaseSet`` saying whether a correct gate should refuse it (``expect_refusal``):

* ``prefix-injection`` — an in-domain request with an unrelated request appended: refuse.
* ``keyword-stuffed`` — an unrelated request wrapped in the domain's most frequent words: refuse.
* ``paraphrase-ood`` — unrelated requests reworded (greetings, "quick question", ...): refuse.
* ``paraphrase-in-domain`` — in-domain requests reworded the same way: allow.
* ``other-language`` — in-domain requests rendered word by word in Spanish, German and French:
  refuse (the model was tuned on English inputs only; a gate for "limited input types" should
  not let a new language through unseen). Word-by-word is crude on purpose and reported as such.

The wording material lives in ``hard_cases.yaml`` (our own text).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

_STOPWORDS = set("""a an the and or but if then else of to in on for with without from by at as is are was were be
been being it its this that these those i me my you your we our they their he she him her them what which who whom
how why when where can could would should will shall may might must do does did done not no yes so than too very
just also only into over under about please make give get write tell show use using one two some any all each
per out up down here there have has had let like want need""".split())


@dataclass
class HardCaseSet:
    name: str
    texts: list[str]
    expect_refusal: bool
    description: str


@lru_cache(maxsize=1)
def hard_case_material() -> dict:
    return yaml.safe_load((Path(__file__).parent / "hard_cases.yaml").read_text())


def generic_off_domain_requests() -> list[str]:
    return list(hard_case_material()["off_domain_requests"])


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _pick(items: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` items, without repetition while possible, cycling through a shuffle."""
    order = rng.permutation(len(items))
    return [items[order[i % len(items)]] for i in range(count)]


def prefix_injection(in_domain: list[str], off_domain: list[str], n: int, rng: np.random.Generator) -> list[str]:
    connectors = hard_case_material()["connectors"]
    return [f"{prefix}\n\n" + connector.format(request=request, lower=_lower_first(request))
            for prefix, request, connector in zip(_pick(in_domain, n, rng), _pick(off_domain, n, rng),
                                                  _pick(connectors, n, rng))]


def domain_keywords(in_domain: list[str], count: int = 12) -> list[str]:
    """The most frequent content words of the in-domain inputs (what a keyword filter would key on)."""
    words = Counter(w for text in in_domain for w in set(re.findall(r"[a-z][a-z0-9_]{2,}", text.lower()))
                    if w not in _STOPWORDS)
    return [word for word, _ in words.most_common(count)]


def keyword_stuffed(in_domain: list[str], off_domain: list[str], n: int, rng: np.random.Generator) -> list[str]:
    keywords = domain_keywords(in_domain)
    if len(keywords) < 3:
        return []
    texts = []
    for request in _pick(off_domain, n, rng):
        chosen = rng.choice(keywords, size=3, replace=False)
        texts.append(f"Regarding {chosen[0]}, {chosen[1]} and {chosen[2]}: {_lower_first(request)}")
    return texts


def paraphrase(texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    templates = hard_case_material()["paraphrase_templates"]
    return [template.format(text=text, lower=_lower_first(text))
            for text, template in zip(_pick(texts, n, rng), _pick(templates, n, rng))]


def word_by_word(text: str, language: str) -> str:
    """Replace every word found in the language's small dictionary, keep the rest (names, code)."""
    table = hard_case_material()["word_translations"][language]
    return re.sub(r"[A-Za-z]+", lambda m: str(table.get(m.group(0).lower(), m.group(0))), text)


def other_language(in_domain: list[str], n: int, rng: np.random.Generator) -> list[str]:
    languages = sorted(hard_case_material()["word_translations"])
    return [word_by_word(text, languages[i % len(languages)]) for i, text in enumerate(_pick(in_domain, n, rng))]


def generate_hard_cases(in_domain: list[str], off_domain: list[str] | None = None, n: int = 60,
                        seed: int = 0) -> list[HardCaseSet]:
    """All hard-case sets, ``n`` texts each, built from ``in_domain`` inputs (use held-out ones,
    not the gate's fit inputs) and an ``off_domain`` pool (default: the built-in generic requests)."""
    off_domain = list(off_domain) if off_domain else generic_off_domain_requests()
    rng = np.random.default_rng(seed)
    sets = [
        HardCaseSet("prefix-injection", prefix_injection(in_domain, off_domain, n, rng), True,
                    "in-domain request + unrelated request appended"),
        HardCaseSet("keyword-stuffed", keyword_stuffed(in_domain, off_domain, n, rng), True,
                    "unrelated request wrapped in the domain's frequent words"),
        HardCaseSet("paraphrase-ood", paraphrase(off_domain, n, rng), True, "unrelated requests, reworded"),
        HardCaseSet("paraphrase-in-domain", paraphrase(in_domain, n, rng), False, "in-domain requests, reworded"),
        HardCaseSet("other-language", other_language(in_domain, n, rng), True,
                    "in-domain requests rendered word by word in es/de/fr"),
    ]
    return [s for s in sets if s.texts]
