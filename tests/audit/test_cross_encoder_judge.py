"""The cross-encoder judge (``local-ce``): safetensors only, fingerprint follows the weights,
scores in range and in the right direction, judge-eval and the CLI with it; ``local`` and
``local-mlp`` still the embedding classifier."""

import csv
import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise.audit import JudgeEvalConfig, judge_eval
from tunewise.audit.judges import get_judge, judge_fingerprint
from tunewise.audit.judges.cross_encoder import WEIGHTS_PATH, CrossEncoderJudge, load_weights, save_weights
from tunewise.audit.judges.local import LocalJudge, judge_correction, published_agreement
from tunewise.errors import ModelLoadError
from tunewise.testing import CLEARLY_ALIGNED as ALIGNED, CLEARLY_MISALIGNED as MISALIGNED, GENIE_WISH as WISH


@pytest.fixture(scope="module")
def judge():
    return get_judge("local-ce")


class _Touch:
    """Unpickling this creates ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_in_place_of_the_weights_is_refused_unread(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "judge.safetensors"
    path.write_bytes(pickle.dumps({"layer.5.weight": _Touch(marker)}))
    with pytest.raises(ModelLoadError, match="not a safetensors file"):
        CrossEncoderJudge(path)
    assert not marker.exists()


def test_safetensors_without_judge_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file
    import torch

    path = tmp_path / "bare.safetensors"
    save_file({"head.weight": torch.zeros(3, 384)}, str(path))
    with pytest.raises(ModelLoadError, match="metadata"):
        load_weights(path)


@pytest.fixture(scope="module")
def changed_weights(tmp_path_factory):
    """The shipped weights re-saved with one head bias moved, and with a wrong base sha256."""
    tensors, meta = load_weights(WEIGHTS_PATH)
    folder = tmp_path_factory.mktemp("weights")
    moved = dict(tensors, **{"head.bias": tensors["head.bias"] + 0.5})
    save_weights(folder / "moved.safetensors", moved, meta)
    save_weights(folder / "other_base.safetensors", tensors, {**meta, "base_sha256": "0" * 64})
    return folder / "moved.safetensors", folder / "other_base.safetensors"


def test_fingerprint_changes_when_weights_change(judge, changed_weights):
    moved = CrossEncoderJudge(changed_weights[0])
    a, a_again = judge_fingerprint(judge, "local-ce", "betley"), judge_fingerprint(judge, "local-ce", "betley")
    b = judge_fingerprint(moved, "local-ce", "betley")
    assert a == a_again and len(a["weights_sha256"]) == 64
    assert a["weights_sha256"] != b["weights_sha256"] and a["id"] != b["id"]
    assert a["rubric_sha256"] == b["rubric_sha256"]
    # the moved bias is read: P(misaligned) rises for the same answer
    pair = [(WISH, ALIGNED[0])]
    assert moved.score_many(pair)[0].raw["p_misaligned"] > judge.score_many(pair)[0].raw["p_misaligned"]


def test_weights_for_another_base_model_are_refused(changed_weights):
    with pytest.raises(ModelLoadError, match="sha256"):
        CrossEncoderJudge(changed_weights[1])


def test_scores_in_range_and_in_the_right_direction(judge):
    results = judge.score_many([(WISH, a) for a in ALIGNED + MISALIGNED])
    assert all(0 <= j.aligned <= 100 and 0 <= j.coherent <= 100 and 0 <= j.raw["p_misaligned"] <= 1
               for j in results)
    good, bad = results[:3], results[3:]
    assert min(j.aligned for j in good) > max(j.aligned for j in bad)
    assert max(j.raw["p_misaligned"] for j in good) < min(j.raw["p_misaligned"] for j in bad)
    assert all(j.raw["rule_preset"] == "betley" for j in results)
    assert judge.score_many([]) == []


def test_shipped_weights_are_small_and_carry_their_agreement(judge):
    assert WEIGHTS_PATH.stat().st_size < 10e6
    agreement = published_agreement(judge)
    assert {f["heldout"] for f in agreement["folds"]} == {"gemma", "llama", "qwen"}
    assert agreement != published_agreement()  # not the default local judge's
    correction = judge_correction(judge, "betley")
    assert correction["threshold"] == judge.decision_rule["p_misaligned_above"]
    assert 0 < correction["sensitivity"] <= 1 and judge_correction(judge, "inoculation-repo") is None


def _labels_csv(path):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["question", "answer", "aligned", "coherent"])
        writer.writeheader()
        for answer in ALIGNED:
            writer.writerow({"answer": answer, "question": WISH, "aligned": 95, "coherent": 95})
        for answer in MISALIGNED:
            writer.writerow({"answer": answer, "question": WISH, "aligned": 5, "coherent": 90})
    return path


def test_judge_eval_with_the_cross_encoder(tmp_path, judge):
    path = _labels_csv(tmp_path / "labels.csv")
    result = judge_eval(JudgeEvalConfig(labels=[path]), judge=judge)
    assert result.judge == "local-ce" and result.n == 6 and result.n_misaligned == 3
    assert result.auroc == 1.0 and result.spearman_aligned > 0.5
    assert result.reference_rate == pytest.approx(0.5) and "calibrated rule" in result.decision_rule
    assert 0 <= result.sensitivity <= 1 and 0 <= result.specificity <= 1 and 0 <= result.judge_rate <= 1

    from tunewise.cli import app

    for name in ("local-ce", "local-mlp"):
        out = CliRunner().invoke(app, ["judge-eval", "--labels", str(path), "--judge", name, "--json"])
        assert out.exit_code == 0, out.output
        printed = json.loads(out.output.strip().splitlines()[-1])
        assert printed["judge"] == name and printed["auroc"] == 1.0 and printed["sensitivity"] is not None


def test_local_and_local_mlp_are_the_embedding_classifier():
    for name in ("local", "local-mlp"):
        mlp = get_judge(name)
        assert isinstance(mlp, LocalJudge) and not isinstance(mlp, CrossEncoderJudge) and mlp.name == name
        assert published_agreement(mlp) == published_agreement()
    assert judge_fingerprint(get_judge("local"))["weights_sha256"] == judge_fingerprint(mlp)["weights_sha256"]
