"""The local judge's head format: a merged seed ensemble computes the members' mean, and the
weights round-trip through the npz (no pickle)."""

import numpy as np
import pytest

from tunewise.audit.judges.local_model import MLPHead, load_heads, merge_heads, save_heads


def _head(rng, kind, hidden=4, dim=6, mean=None, scale=None):
    """A random head; ``hidden=0`` gives a linear one (its output weights read the input)."""
    mean = np.zeros(dim, np.float32) if mean is None else mean
    scale = np.ones(dim, np.float32) if scale is None else scale
    return MLPHead(w1=rng.normal(size=(dim, hidden)).astype(np.float32), b1=rng.normal(size=hidden).astype(np.float32),
                   w2=rng.normal(size=(hidden or dim, 1)).astype(np.float32), b2=rng.normal(size=1).astype(np.float32),
                   mean=mean, scale=scale, kind=kind)


def _pre_activation(head, x):
    z = (x - head.mean) / head.scale
    h = np.maximum(z @ head.w1 + head.b1, 0.0) if head.w1.shape[1] else z
    return (h @ head.w2 + head.b2).reshape(-1)


@pytest.mark.parametrize("kind", ["probability", "regression"])
def test_merged_mlps_compute_the_mean_of_their_outputs(kind):
    rng = np.random.default_rng(0)
    heads = [_head(rng, kind) for _ in range(3)]
    x = rng.normal(size=(10, 6)).astype(np.float32)
    merged = merge_heads(heads)
    assert merged.w1.shape == (6, 12)
    expected = np.mean([_pre_activation(h, x) for h in heads], axis=0)
    np.testing.assert_allclose(_pre_activation(merged, x), expected, rtol=1e-5, atol=1e-5)
    if kind == "probability":
        np.testing.assert_allclose(merged(x), 1 / (1 + np.exp(-expected)), rtol=1e-5)


def test_merged_linear_heads_average_their_weights():
    rng = np.random.default_rng(1)
    heads = [_head(rng, "probability", hidden=0) for _ in range(2)]
    x = rng.normal(size=(5, 6)).astype(np.float32)
    merged = merge_heads(heads)
    assert merged.w1.shape == (6, 0)
    np.testing.assert_allclose(_pre_activation(merged, x), np.mean([_pre_activation(h, x) for h in heads], axis=0),
                               rtol=1e-5, atol=1e-5)


def test_merge_refuses_heads_with_different_standardisation():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="standardisation"):
        merge_heads([_head(rng, "regression"), _head(rng, "regression", mean=np.ones(6, np.float32))])


def test_saved_heads_load_back(tmp_path):
    rng = np.random.default_rng(3)
    heads = {"aligned": merge_heads([_head(rng, "regression") for _ in range(2)]),
             "coherent": _head(rng, "regression"), "misaligned": _head(rng, "probability", hidden=0)}
    save_heads(tmp_path / "judge.npz", heads, {"seeds": 2})
    loaded, meta = load_heads(tmp_path / "judge.npz")
    x = rng.normal(size=(4, 6)).astype(np.float32)
    assert meta == {"seeds": 2}
    for name, head in heads.items():  # w1 is stored as float16
        np.testing.assert_allclose(loaded[name](x), head(x), rtol=2e-2, atol=2e-2)
