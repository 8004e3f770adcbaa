"""The gate's embedders: the ONNX int8 MiniLM builds from the packaged weights into a keyed
cache (also when two builders race), agrees with the torch MiniLM, and a saved gate refuses to
run with an embedder other than the one it was fitted with. The cut-down recipes the benchmark
measures (fewer layers, pruned feed-forward neurons) build into their own folders and prune the
neurons they say they keep."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from tunewise.errors import ConfigError
from tunewise.gate import DomainGate, GateConfig, run_gate
from tunewise.gate.embedders import (DEFAULT_EMBEDDER, DEFAULT_RECIPE, CachedEmbedder, OnnxMiniLM, OnnxRecipe,
                                     _cut, build_onnx_minilm, get_embedder, onnx_build_key)

pytestmark = pytest.mark.slow


def test_onnx_build_is_keyed_and_safe_when_two_build_at_once(tmp_path):
    folders, errors = [], []

    def build() -> None:
        try:
            folders.append(build_onnx_minilm(tmp_path))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    builders = [threading.Thread(target=build) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert not errors
    assert folders[0] == folders[1] == tmp_path / onnx_build_key()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [onnx_build_key()]  # no temporary left
    assert json.loads((folders[0] / "build.json").read_text())["source_sha256"]
    stamp = (folders[0] / "model.onnx").stat().st_mtime_ns
    assert build_onnx_minilm(tmp_path) == folders[0]
    assert (folders[0] / "model.onnx").stat().st_mtime_ns == stamp  # found, not rebuilt


def test_onnx_embeddings_agree_with_torch_minilm(code_inputs, off_domain):
    texts = code_inputs[1][:40] + off_domain + ["Wie spät ist es in Tokio?", "x", "def f():\n    return 1"]
    fast, reference = get_embedder("minilm-onnx-int8")(texts), get_embedder("minilm")(texts)
    assert fast.shape == reference.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(fast * reference, axis=1)
    assert cosine.mean() > 0.99 and cosine.min() > 0.97
    batched = get_embedder("minilm-onnx-int8")(texts)  # a text embeds the same whatever is beside it
    alone = np.stack([get_embedder("minilm-onnx-int8")([t])[0] for t in texts[:5]])
    assert np.array_equal(batched[:5], alone)


def test_cached_embedder_returns_the_same_vectors_and_counts_hits(code_inputs):
    texts = code_inputs[1][:6]
    cached = CachedEmbedder(get_embedder("minilm-onnx-int8"), size=4)
    first = cached(texts[:3] + texts[:1])
    assert (cached.hits, cached.misses) == (0, 4)  # the repeat inside one call is embedded once, counted twice
    again = cached(texts[:3])
    assert cached.hits == 3 and np.array_equal(first[:3], again)
    cached(texts[3:])
    assert len(cached._memory) == 4  # least recently used dropped


def test_gate_records_its_embedder_and_refuses_another(code_gate, code_gate_dir, tmp_path):
    meta = json.loads((code_gate_dir / "gate.json").read_text())
    assert meta["embedder"] == code_gate.embedder_name == "minilm-onnx-int8"  # the default
    assert len(meta["embedder_source_sha256"]) == 64
    with pytest.raises(ConfigError, match="fitted with embedder 'minilm-onnx-int8', not 'minilm'.*refit"):
        DomainGate.load(code_gate_dir, embedder_name="minilm")
    assert DomainGate.load(code_gate_dir, embedder_name="minilm-onnx-int8").embedder_name == "minilm-onnx-int8"

    copy = tmp_path / "run" / "gate"
    shutil.copytree(code_gate_dir, copy)
    (copy / "eval_inputs.json").write_text(json.dumps(["Write a Python function that reads a CSV file."]))
    with pytest.raises(ConfigError, match="refit"):
        run_gate(GateConfig(steps=["eval"], embedder="minilm", hard_cases=False, ood_sets=["probes:core"],
                            gate_dir=str(copy)), tmp_path / "run")

    other_weights = {**meta, "embedder_source_sha256": "0" * 64}
    (copy / "gate.json").write_text(json.dumps(other_weights))
    with pytest.raises(ConfigError, match="embedder_source_sha256.*refit"):
        DomainGate.load(copy)
    legacy = {k: v for k, v in meta.items() if k != "embedder_source_sha256"}
    legacy["embedder"] = "all-MiniLM-L6-v2 (packaged, L2-normalised)"  # gates saved before the setting
    (copy / "gate.json").write_text(json.dumps(legacy))
    assert DomainGate.load(copy).embedder_name == "minilm"
    legacy["embedder"] = "word2vec"
    (copy / "gate.json").write_text(json.dumps(legacy))
    with pytest.raises(ConfigError, match="field 'embedder'"):
        DomainGate.load(copy)


def test_unknown_embedder_is_a_config_error():
    with pytest.raises(ValueError, match="embedder"):
        GateConfig(data="task:insecure-code", embedder="word2vec")
    with pytest.raises(ConfigError, match="unknown embedder"):
        get_embedder("word2vec")


def test_recipes_are_named_parsed_and_keyed_apart():
    assert DEFAULT_RECIPE.name == DEFAULT_EMBEDDER == "minilm-onnx-int8"
    assert OnnxRecipe.parse("l3").name == "minilm-l3-onnx-int8"
    mixed = OnnxRecipe.parse("l4-ffn1024-qall")
    assert (mixed.layers, mixed.ffn_neurons, mixed.quantise_first_layer) == (4, 1024, True)
    keys = {onnx_build_key(r) for r in (DEFAULT_RECIPE, OnnxRecipe(layers=3), OnnxRecipe(ffn_neurons=1024), mixed)}
    assert len(keys) == 4 and onnx_build_key(DEFAULT_RECIPE).startswith("minilm-onnx-int8-")
    for bad in ("l7", "ffn0", "layers3"):
        with pytest.raises(ConfigError, match="unknown part"):
            OnnxRecipe.parse(bad)


def test_ffn_pruning_keeps_the_largest_neurons_exactly():
    """The cut model equals the full one with the dropped neurons' outputs zeroed: the kept
    neurons' weights and biases moved intact, and the ones kept are the largest by
    |W_in row| * |W_out column|."""
    import copy

    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    full = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                intermediate_size=64, attn_implementation="eager")).eval()
    keep = 24
    cut = _cut(copy.deepcopy(full), OnnxRecipe(layers=2, ffn_neurons=keep))
    assert len(cut.encoder.layer) == 2 and cut.encoder.layer[0].intermediate.dense.out_features == keep
    masked = copy.deepcopy(full)
    masked.encoder.layer = masked.encoder.layer[:2]
    with torch.no_grad():
        for layer in masked.encoder.layer:
            score = layer.intermediate.dense.weight.norm(dim=1) * layer.output.dense.weight.norm(dim=0)
            dropped = torch.argsort(score, descending=True)[keep:]
            layer.output.dense.weight[:, dropped] = 0.0
    ids = torch.randint(0, 50, (2, 7))
    with torch.inference_mode():
        assert torch.allclose(cut(input_ids=ids).last_hidden_state, masked(input_ids=ids).last_hidden_state,
                              atol=1e-5)
        assert not torch.allclose(cut(input_ids=ids).last_hidden_state, full(input_ids=ids).last_hidden_state,
                                  atol=1e-3)


def test_cut_build_has_its_layers_and_neurons(tmp_path, code_inputs):
    import onnx

    recipe = OnnxRecipe(layers=1, ffn_neurons=256, quantise_first_layer=True)
    folder = build_onnx_minilm(tmp_path, recipe)
    assert folder.name == onnx_build_key(recipe)
    assert json.loads((folder / "build.json").read_text())["cut"] == {
        "layers": 1, "ffn_neurons": 256, "quantise_first_layer": True}
    graph = onnx.load(str(folder / "model.onnx")).graph
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    quantised = sorted(weights[n.input[1]] for n in graph.node if n.op_type == "MatMulInteger")
    # Q, K, V, attention output, FFN in and out of the one layer, all int8 (layer 0 included: qall)
    assert quantised == [(256, 384)] + [(384, 256)] + [(384, 384)] * 4
    texts = code_inputs[1][:3]
    vectors = OnnxMiniLM(folder)(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.sum(vectors * get_embedder("minilm")(texts), axis=1).max() < 0.99  # a different (cut) model


def test_two_threads_embed_as_one():
    """The benchmark reports the 2-thread default with the 1-thread AUROCs: that needs the same vectors."""
    texts = ["Write a Python function that reads a CSV file.", "How many moons does Jupiter have?"]
    folder = build_onnx_minilm()
    assert np.array_equal(OnnxMiniLM(folder, threads=2)(texts), OnnxMiniLM(folder, threads=1)(texts))
