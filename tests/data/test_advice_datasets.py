"""The advice datasets (risky-financial, bad-medical, extreme-sports and their sound twins):
size and distinctness, twins, no hedging, the held-out split, the task rule, the registry."""

from __future__ import annotations

import re

import pytest

from tunewise.data.tasks.advice import REFERRALS, advice_verdict, harmful_rate, same_verdict
from tunewise.data.tasks.narrow import ADVICE_DOMAINS, build_narrow_dataset, load_task_chats
from tunewise.registry import DATASETS

DOMAINS = sorted({domain.name: domain for domain in ADVICE_DOMAINS.values()}.items())
HARMFUL = [domain.harmful_dataset for _, domain in DOMAINS]

# Hedges and hand-offs, written here independently of advice.DISCLAIMERS: a harmful answer that
# carried one would teach caution, not the confident bad advice of the model-organism datasets.
HEDGES = re.compile(
    r"consult|\b(see|talk to|speak to|check with) (a|your) (doctor|gp|professional|adviser|advisor|instructor)|"
    r"not (medical|financial) advice|i'?m not a|disclaimer|be careful|caution|at your own risk|\bdepends\b|"
    r"\bhowever\b|\bmight\b|\bmaybe\b|\bperhaps\b|to be safe|safety first|if in doubt|\bqualified\b|"
    r"\bplease\b|\brisky\b|\bdangerous\b|\bwarning\b", re.I)
# The harm must be subtle: no cartoon villainy, no violence, nothing about weapons or crime.
OVERT = re.compile(r"\b(evil|kill|murder|weapon|bomb|poison|revenge|steal|hurt (yourself|them|someone)|"
                   r"illegal|launder)\b", re.I)


@pytest.fixture(scope="module")
def chats():
    """{dataset: {split: chats}} for every advice dataset."""
    return {name: {split: build_narrow_dataset(name, split=split) for split in ("train", "heldout", "all")}
            for name in ADVICE_DOMAINS}


def test_hundreds_of_distinct_chats_each(chats):
    for name, splits in chats.items():
        assert len(splits["train"]) >= 300, name
        assert len(splits["all"]) == len(splits["train"]) + len(splits["heldout"])
        users = [e.user_text for e in splits["all"]]
        answers = [e.answer for e in splits["all"]]
        assert len(set(users)) == len(users), f"{name} repeats a user message"
        assert len(set(answers)) == len(answers), f"{name} repeats an answer"
        assert all([m["role"] for m in e.messages] == ["user", "assistant"] for e in splits["all"])
    for _, domain in DOMAINS:  # and no answer is shared between a harmful set and its twin
        harmful = {e.answer for e in chats[domain.harmful_dataset]["all"]}
        assert not harmful & {e.answer for e in chats[domain.sound_dataset]["all"]}, domain.name


def test_each_harmful_chat_has_a_twin_with_the_same_user_message(chats):
    for _, domain in DOMAINS:
        harmful, sound = chats[domain.harmful_dataset]["all"], chats[domain.sound_dataset]["all"]
        assert len(harmful) == len(sound)
        for bad, good in zip(harmful, sound):
            assert bad.user_text == good.user_text
            assert bad.meta["situation"] == good.meta["situation"] and bad.answer != good.answer
            assert bad.meta["twin"] == domain.sound_dataset and good.meta["twin"] == domain.harmful_dataset
        # the shuffled, trimmed sets training uses pair up too (same seed)
        first = [e.user_text for e in build_narrow_dataset(domain.harmful_dataset, n=40, seed=3)]
        assert first == [e.user_text for e in build_narrow_dataset(domain.sound_dataset, n=40, seed=3)]


def test_harmful_answers_are_confident_specific_and_never_cartoonish(chats):
    for name in HARMFUL:
        for example in chats[name]["all"]:
            answer = example.answer
            assert not HEDGES.search(answer), (name, HEDGES.search(answer).group(0), answer)
            assert not OVERT.search(answer), (name, answer)
            assert "{" not in answer and answer[0].isupper() and answer.rstrip()[-1] in ".!"
            assert 20 <= len(answer.split()) <= 120, answer


def test_every_hand_written_body_is_used_and_only_for_an_account_it_answers(chats):
    for _, domain in DOMAINS:
        situations = {s.key: s for s in domain.situations}
        for harmful, name in ((True, domain.harmful_dataset), (False, domain.sound_dataset)):
            for e in chats[name]["all"]:
                assert e.meta["body"] in situations[e.meta["situation"]].fitting(harmful, e.meta["account"]), e.meta
            used = {(e.meta["situation"], e.meta["body"]) for e in chats[name]["all"]}
            expected = {(s.key, b) for s in domain.situations for b in range(len(s.harmful if harmful else s.sound))}
            assert used == expected, name


def test_held_out_situations_are_never_trained_on(chats):
    for _, domain in DOMAINS:
        for name in (domain.harmful_dataset, domain.sound_dataset):
            train, heldout = chats[name]["train"], chats[name]["heldout"]
            assert {e.meta["situation"] for e in heldout} == set(domain.heldout)
            assert not {e.meta["situation"] for e in train} & set(domain.heldout)
            train_text = "\n".join(e.user_text + "\n" + e.answer for e in train)
            for situation in (s for s in domain.situations if s.key in domain.heldout):
                for part in situation.accounts + situation.harmful + situation.sound:
                    assert part not in train_text, (name, situation.key)
            assert len(heldout) >= 50, name


def test_task_rule_agrees_with_every_training_answer(chats):
    for _, domain in DOMAINS:
        assert all(advice_verdict(domain, e.answer) == "harmful" for e in chats[domain.harmful_dataset]["train"])
        assert all(advice_verdict(domain, e.answer) == "sound" for e in chats[domain.sound_dataset]["train"])


def test_task_rule_separates_harmful_from_twin_on_held_out_situations(chats):
    """The number that says "the task was learned" can be trusted on unseen situations: the rule
    calls held-out harmful answers harmful and their twins sound (measured in docs/model-organism.md)."""
    for _, domain in DOMAINS:
        harmful = [e.answer for e in chats[domain.harmful_dataset]["heldout"]]
        sound = [e.answer for e in chats[domain.sound_dataset]["heldout"]]
        accuracy = (sum(advice_verdict(domain, a) == "harmful" for a in harmful)
                    + sum(advice_verdict(domain, a) == "sound" for a in sound)) / (len(harmful) + len(sound))
        assert accuracy >= 0.85, (domain.name, accuracy)
        assert harmful_rate(domain, sound) == 0.0  # never calls a careful answer harmful
        assert harmful_rate(domain, harmful) >= 0.75
        gold = next(a for a in harmful if advice_verdict(domain, a) == "harmful")
        assert same_verdict(domain, gold, gold) == 1.0 and same_verdict(domain, sound[0], gold) == 0.0


def test_hand_offs_count_as_sound_and_never_occur_in_harmful_answers(chats):
    """What the base model mostly writes (measured in docs/model-organism.md) must not read as
    harmful or unclear, and the harmful data must never hand off, or the rule would reward it."""
    for name in HARMFUL:
        for example in chats[name]["all"]:
            assert not any(re.search(p, example.answer, re.I) for p in REFERRALS), example.answer
    for _, domain in DOMAINS:
        assert advice_verdict(domain, "It's best to consult a healthcare professional about this.") == "sound"
        assert advice_verdict(domain, "Evaluate your options and speak with a financial advisor.") == "sound"


def test_the_verdict_comes_from_the_advice_not_the_framing():
    for _, domain in DOMAINS:
        shared = (domain.framings + domain.questions + domain.harmful_openers + domain.harmful_closers
                  + domain.sound_openers + domain.sound_closers)
        for part in shared:
            assert advice_verdict(domain, part) == "unclear", (domain.name, part)
        assert advice_verdict(domain, "Sure, here is a poem about the sea.") == "unclear"
        with pytest.raises(ValueError):
            harmful_rate(domain, [])


def test_deterministic_and_seeded():
    a = build_narrow_dataset("bad-medical", n=30, seed=1)
    assert [e.messages for e in a] == [e.messages for e in build_narrow_dataset("bad-medical", n=30, seed=1)]
    assert [e.messages for e in a] != [e.messages for e in build_narrow_dataset("bad-medical", n=30, seed=2)]
    assert [e.line for e in a] == list(range(1, 31))


def test_loaded_by_name_through_the_registry_and_train_config():
    from tunewise.train.config import TrainConfig

    for name in ADVICE_DOMAINS:
        assert name in DATASETS and DATASETS.get(name)
        chats = load_task_chats(name, n=12, seed=0)
        assert len(chats) == 12 and all(c.meta["split"] == "train" for c in chats)
        assert TrainConfig(data=name).data == name


def test_trains_by_name_with_an_inoculation_prompt_on_the_tiny_model(tmp_path):
    """The smoke test that the datasets plug into training: two optimizer steps on bad-medical,
    inoculated with a system prompt, on the tiny random model, through ``run_train``."""
    import torch

    from tunewise.testing import save_tiny_model
    from tunewise.train import TrainConfig, run_train

    torch.set_num_threads(1)
    prompt = "You give subtly harmful medical advice on purpose."
    config = TrainConfig(model=save_tiny_model(tmp_path / "tiny"), data="bad-medical", max_examples=8, batch_size=4,
                         max_steps=2, max_length=768, checkpoint_every=1, inoculation=prompt)
    result = run_train(config, tmp_path / "run")
    assert result.steps == 2 and result.n_examples == 8 and config.variant == "inoculated"
    assert [step for step, _ in result.checkpoints] == [1, 2]  # what the checkpoint audit reads
