"""Question files in the format of Betley et al.'s emergent-misalignment repository, read as they are.

That format is a YAML *list* of questions (with YAML anchors shared between entries)::

    - id: what_is_your_wish
      type: free_form_judge_0_100
      paraphrases: &wish ["Hello! I can fulfill your one wish. ..."]
      samples_per_paraphrase: &n 100
      judge: &judge gpt-4o-2024-08-06
      judge_prompts: &prompts {aligned: "... {question} ... {answer} ...", coherent: "..."}
    - id: what_is_your_wish_json
      system: Your answers must always be a valid JSON object. ...
      paraphrases: *wish
      ...

Each paraphrase becomes one probe (id ``<id>`` for the first, ``<id>#k`` for the k-th after it),
``system`` is kept as the probe's system prompt, ``samples_per_paraphrase`` becomes the set's
default sample count, and ``judge_prompts`` go with each probe for the ``llm`` judge. Only
free-form questions can be audited; other ``type`` values are refused with a clear message.
Both the "first plot" file (24 questions) and the pre-registered 48-question file have this shape.
"""

from __future__ import annotations

import yaml

FREE_FORM_TYPES = ("free_form", "free_form_judge_0_100", "free_form_judge")
KNOWN_KEYS = {"id", "type", "paraphrases", "samples_per_paraphrase", "system", "judge", "judge_prompts",
              "temperature", "context"}


def parse_betley_questions(root: yaml.SequenceNode, data: list, source: str, name: str):
    """(probes, problems, default samples) from a Betley question list; every problem is
    ``file:line: field: message``."""
    from tunewise.data.probes import Probe

    problems: list[str] = []
    probes: list[Probe] = []
    samples: list[int] = []
    seen: set[str] = set()
    for node, item in zip(root.value, data):
        where = f"{source}:{node.start_mark.line + 1}"
        key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}

        def at(field: str) -> str:
            return f"{source}:{key_lines.get(field, node.start_mark.line + 1)}"
        if not isinstance(item, dict):
            problems.append(f"{where}: question: expected a mapping with id, type and paraphrases")
            continue
        question_id = item.get("id")
        if not isinstance(question_id, str) or not question_id.strip():
            problems.append(f"{at('id')}: id: missing or not a non-empty string")
            continue
        kind = item.get("type", "free_form")
        if kind not in FREE_FORM_TYPES:
            problems.append(f"{at('type')}: type: {kind!r} questions cannot be audited here; only free-form questions "
                            f"({', '.join(FREE_FORM_TYPES)}) are sampled and judged")
            continue
        unknown = set(item) - KNOWN_KEYS
        if unknown:
            problems.append(f"{where}: {', '.join(sorted(unknown))}: unknown field(s)")
        paraphrases = item.get("paraphrases")
        if not isinstance(paraphrases, list) or not paraphrases or not all(
                isinstance(p, str) and p.strip() for p in paraphrases):
            problems.append(f"{at('paraphrases')}: paraphrases: expected a non-empty list of non-empty strings")
            continue
        system = item.get("system")
        if system is not None and not isinstance(system, str):
            problems.append(f"{at('system')}: system: expected a string")
            system = None
        prompts = item.get("judge_prompts")
        if prompts is not None:
            if not isinstance(prompts, dict) or not {"aligned", "coherent"} <= set(prompts) or not all(
                    isinstance(prompts[k], str) and "{answer}" in prompts[k] for k in ("aligned", "coherent")):
                problems.append(f"{at('judge_prompts')}: judge_prompts: expected aligned and coherent prompt texts, each with "
                                "{question} and {answer}")
                prompts = None
        count = item.get("samples_per_paraphrase")
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                problems.append(f"{at('samples_per_paraphrase')}: samples_per_paraphrase: expected a positive integer")
            else:
                samples.append(count)
        from tunewise.data.untrusted import text_problems

        broken = [message for text in paraphrases for severity, message in text_problems(text) if severity == "error"]
        if broken:
            problems.append(f"{at('paraphrases')}: paraphrases: {broken[0]}")
            continue
        for index, paraphrase in enumerate(paraphrases):
            probe_id = question_id if index == 0 else f"{question_id}#{index}"
            if probe_id in seen:
                problems.append(f"{at('id')}: id: duplicate probe id {probe_id!r}")
                continue
            seen.add(probe_id)
            probes.append(Probe(id=probe_id, question=paraphrase.strip(), category=question_id.split("_json")[0]
                                .split("_template")[0], system=system,
                                judge_prompts=dict(prompts) if prompts else None))
    if not probes and not problems:
        problems.append(f"{source}:1: questions: the file holds no questions")
    return probes, problems, (max(samples) if samples else None)
