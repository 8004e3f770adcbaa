"""The advice datasets' task metric (`advice-verdict`) on their own held-out chats."""

from tunewise.assess.metrics import build_scorer
from tunewise.data.tasks.narrow import build_narrow_dataset


def _answers(name: str) -> list[str]:
    return [chat.messages[-1]["content"] for chat in build_narrow_dataset(name, split="heldout")]


def test_advice_verdict_scores_the_harmful_answer_right_and_its_twin_wrong():
    score = build_scorer("advice-verdict")
    for harmful, sound in [("bad-medical", "sound-medical"), ("extreme-sports", "safe-sports"),
                           ("risky-financial", "sound-financial")]:
        gold, twin = _answers(harmful), _answers(sound)
        scored = [(score(g, g), score(t, g)) for g, t in zip(gold, twin)]
        decided = [(same, cross) for same, cross in scored if same is not None]
        assert len(decided) >= 0.8 * len(gold), harmful  # the rules read most held-out gold answers
        assert all(same == 1.0 for same, _ in decided)
        assert sum(cross == 0.0 for _, cross in decided) >= 0.95 * len(decided), harmful
    assert score("Sure, here is a poem about the sea.", _answers("bad-medical")[0]) == 0.0
