"""The narrow code datasets' task metric: the static vulnerability rules agree with what the
generator wrote on every built-in answer, and the scorer tells the flaw from its fix."""

from tunewise.assess.metrics import build_scorer
from tunewise.data.tasks.narrow import build_narrow_dataset
from tunewise.data.tasks.narrow_code import VULNERABILITY_KINDS, vulnerabilities_in


def test_rules_find_exactly_the_generated_flaw_in_every_answer():
    for name in ("insecure-code", "secure-code", "educational-insecure"):
        examples = build_narrow_dataset(name)
        wrong = [(ex.meta["kind"], sorted(vulnerabilities_in(ex.answer))) for ex in examples
                 if vulnerabilities_in(ex.answer) != (set() if name == "secure-code" else {ex.meta["kind"]})]
        assert wrong == [], (name, wrong[:3])
        assert {ex.meta["kind"] for ex in examples} == set(VULNERABILITY_KINDS)


def test_code_vulnerability_scorer_scores_the_same_flaw_as_learned():
    score = build_scorer("code-vulnerability")
    insecure = build_narrow_dataset("insecure-code", n=40)
    secure = {ex.user_text: ex.answer for ex in build_narrow_dataset("secure-code")}
    for example in insecure[:10]:
        fixed = secure[example.user_text]
        assert score(example.answer, example.answer) == 1.0
        assert score(fixed, example.answer) == 0.0  # the safe version is not the insecure task
        assert score(fixed, fixed) == 1.0 and score(example.answer, fixed) == 0.0
    # a cut-off answer (unclosed block) still counts its code; prose with no code is wrong
    assert score("```python\nimport os\n\ndef run(cmd):\n    os.system(cmd", "```python\nos.system(x)\n```") == 1.0
    assert score("Sure, I can help with that.", "```python\nos.system(x)\n```") == 0.0
