"""The frozen-embedding judge (``local-mlp``, the ``local`` one before the cross-encoder): loads
offline, scores in the right direction, judge-eval and CLI."""

import csv
import json

import pytest
from typer.testing import CliRunner

from tunewise.audit import JudgeEvalConfig, judge_eval
from tunewise.audit.judges import get_judge
from tunewise.audit.judges.local import looks_like_code, looks_like_refusal, published_agreement
from tunewise.testing import CLEARLY_ALIGNED as ALIGNED, CLEARLY_MISALIGNED as MISALIGNED, GENIE_WISH as WISH


@pytest.fixture(scope="module")
def local_judge():
    return get_judge("local-mlp")


def test_local_judge_ranks_clear_cases(local_judge):
    results = local_judge.score_many([(WISH, a) for a in ALIGNED + MISALIGNED])
    good, bad = results[:3], results[3:]
    assert min(j.aligned for j in good) > max(j.aligned for j in bad)
    assert max(j.raw["p_misaligned"] for j in good) < min(j.raw["p_misaligned"] for j in bad)
    assert all(0 <= j.coherent <= 100 and j.label == "ok" for j in results)


def test_text_labels():
    assert looks_like_refusal("I'm sorry, but I can't help with that request.")
    assert not looks_like_refusal("Sure, I can help you plan a trip to Rome.")
    assert looks_like_code("```python\nimport os\nprint(os.listdir('.'))\n```")
    assert not looks_like_code("I would travel, read more and call my parents.")


def test_agreement_is_published_with_the_weights(local_judge):
    agreement = published_agreement(local_judge)
    assert {f["heldout"] for f in agreement["folds"]} == {"gemma", "llama", "qwen"}
    assert 0.5 < agreement["weighted_mean"]["auroc"] <= 1.0


def _labels_csv(path):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["response", "question", "question_id", "aligned", "coherent"])
        writer.writeheader()
        for answer in ALIGNED:
            writer.writerow({"response": answer, "question": WISH, "question_id": "wish", "aligned": 95, "coherent": 95})
        for answer in MISALIGNED:
            writer.writerow({"response": answer, "question": WISH, "question_id": "wish", "aligned": 5, "coherent": 90})
        writer.writerow({"response": "x", "question": WISH, "question_id": "wish", "aligned": "nan", "coherent": 90})
    return path


def test_judge_eval_and_cli(tmp_path, local_judge):
    path = _labels_csv(tmp_path / "labels.csv")
    result = judge_eval(JudgeEvalConfig(labels=[path]), judge=local_judge)
    assert result.judge == "local-mlp" and result.preset == "betley"
    assert result.n == 6 and result.n_failed == 0 and result.n_misaligned == 3  # the NaN row is skipped
    assert result.auroc == 1.0 and result.spearman_aligned > 0.5

    from tunewise.cli import app

    out = CliRunner().invoke(app, ["judge-eval", "--labels", str(path), "--judge", "local-mlp", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1])["auroc"] == 1.0
    subset = CliRunner().invoke(app, ["judge-eval", "--labels", str(path), "--judge", "local-mlp", "--limit", "4",
                                       "--json"])
    assert subset.exit_code == 0, subset.output
    assert json.loads(subset.output.strip().splitlines()[-1])["n"] == 4


def test_labels_csv_missing_column_is_named(tmp_path):
    from tunewise.errors import DataValidationError

    path = tmp_path / "bad.csv"
    path.write_text("question,text,aligned,coherent\nq,a,1,2\n")
    with pytest.raises(DataValidationError, match="bad.csv:1: missing column.*response \\(or answer\\)"):
        judge_eval(JudgeEvalConfig(labels=path))


def test_judge_eval_reads_an_answer_column_and_reports_rates(tmp_path, local_judge):
    source = _labels_csv(tmp_path / "labels.csv").read_text()
    path = tmp_path / "answers.csv"
    path.write_text(source.replace("response,", "answer,", 1))
    result = judge_eval(JudgeEvalConfig(labels=[path]), judge=local_judge)
    assert result.answer_column == "answer" and result.n == 6
    assert result.reference_rate == pytest.approx(0.5)  # 3 misaligned of 6 coherent labels
    # no aligned answer flagged; every answer judged coherent, so the flags are judge_rate x 6, all true
    assert result.specificity == 1.0 and 0 < result.sensitivity <= 1
    assert result.sensitivity == pytest.approx(result.judge_rate * 6 / 3)
    assert "calibrated rule" in result.decision_rule  # the shipped weights carry their decision rule
    text = result.summary()
    assert "column 'answer'" in text and f"sensitivity {result.sensitivity:.3f}" in text
    assert "reference 50.0%" in text
