"""The gate's sentence embedders, chosen by name (``GateConfig.embedder``).

* ``minilm``: the packaged all-MiniLM-L6-v2 through sentence-transformers and torch (the gate's
  original embedder; ~12-17 ms for one short text on this 2-core CPU, ENVIRONMENT.md).
* ``minilm-onnx-int8``: the same packaged weights exported to ONNX with the pooling inside the
  graph (mean over the attention mask, then L2 norm, as sentence-transformers does), weights
  dynamically quantised to int8 (``onnxruntime.quantization.quantize_dynamic``) and run by ONNX
  Runtime with one intra-op thread. One gate decision costs ~8 / 13 ms p50 / p99 on the idle
  2-core AVX2 CPU (torch: ~22 / 34 ms), ~97% of it the graph run (tokenising: ~0.07 ms); its
  vectors agree with ``minilm`` to cosine > 0.99 and the gate's AUROCs to within 0.01
  (benchmarks/gate_embedders.py, docs/gate.md "Embedders").

Cut-down variants (``OnnxRecipe``: fewer layers, fewer feed-forward neurons) are built only by
the benchmark, as candidates for issue 17's < 5 ms decision; none is a gate setting: none came
near 5 ms without refusing many more reworded in-domain requests (``OnnxRecipe``).

The ONNX model is built from the packaged weights on first use (no download), into
``$TUNEWISE_CACHE_DIR/embedders/`` (default ``$XDG_CACHE_HOME/tunewise`` or ``~/.cache/tunewise``),
in a folder named by the sha256 of everything that determines it: the weights, tokenizer and
config files, this module's recipe version and the torch / onnxruntime versions. Two processes
building at once are safe: a file lock lets one build while the other waits, each build goes to
a private temporary folder, and a finished build appears by an atomic rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tunewise.errors import ConfigError, ModelLoadError

Embedder = Callable[[list[str]], np.ndarray]
EMBEDDER_NAMES = ("minilm", "minilm-onnx-int8")
# the default for new gates: its AUROCs match minilm's within 0.01 on the built-in evaluation and
# the hard cases (benchmarks/gate_embedders.py; docs/gate.md "Embedders") at a quarter of the time
DEFAULT_EMBEDDER = "minilm-onnx-int8"
RECIPE_VERSION = 1  # bump when the export or quantisation recipe changes: the cache key changes with it
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json), as sentence-transformers cuts
_SOURCE_FILES = ("model.safetensors", "config.json", "tokenizer.json", "sentence_bert_config.json")
_lock = threading.Lock()
_loaded: dict[str, "NamedEmbedder"] = {}


@dataclass
class NamedEmbedder:
    """An embedder with what identifies it: ``name`` (the setting) and ``source_sha256``, the
    hash of the packaged weights it was built from. A gate records both; scores from different
    embedders are not comparable, so a gate refuses to run with another (``gate.py``)."""

    name: str
    source_sha256: str
    embed: Embedder

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.embed(list(texts))


def check_embedder_name(name: str) -> str:
    if name not in EMBEDDER_NAMES:
        raise ConfigError(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDER_NAMES)}")
    return name


def get_embedder(name: str) -> NamedEmbedder:
    """The process-wide embedder called ``name`` (built or loaded once)."""
    check_embedder_name(name)
    with _lock:
        if name not in _loaded:
            _loaded[name] = _torch_minilm() if name == "minilm" else _onnx_minilm()
        return _loaded[name]


def source_sha256(folder: Path | None = None) -> str:
    """sha256 over the packaged model files that determine an embedding (cached per process)."""
    from tunewise.embeddings import minilm_folder

    folder = folder or minilm_folder()
    key = str(folder)
    if key not in _source_hashes:
        digest = hashlib.sha256()
        for name in _SOURCE_FILES:
            path = folder / name
            digest.update(name.encode() + b"\0")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        _source_hashes[key] = digest.hexdigest()
    return _source_hashes[key]


_source_hashes: dict[str, str] = {}


def _torch_minilm() -> NamedEmbedder:
    from tunewise.embeddings import embed_texts

    return NamedEmbedder("minilm", source_sha256(), embed_texts)


def cache_root() -> Path:
    """Where built embedders live: ``$TUNEWISE_CACHE_DIR/embedders`` or the XDG cache."""
    base = os.environ.get("TUNEWISE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tunewise")
    return Path(base) / "embedders"


@dataclass(frozen=True)
class OnnxRecipe:
    """How an ONNX MiniLM is cut down before int8 quantisation. The default is the gate's
    ``minilm-onnx-int8``; the others are candidates that ``benchmarks/gate_embedders.py`` builds
    and measures beside it (issue 17 item 5: a faster embedder for < 5 ms decisions). None is a
    gate setting (measured, docs/gate.md "Embedders"): 3 of 6 layers refused 70% of reworded
    in-domain requests (MiniLM 5%), 768 FFN neurons 10%; 1,024 neurons kept the AUROCs but saved
    only ~17% of the CPU, and at the threshold refused fewer prefix-injected requests on
    risky-financial (62% vs 75%).

    * ``layers``: keep the first ``layers`` of the 6 transformer layers (layer dropping).
    * ``ffn_neurons``: keep this many of each layer's 1,536 feed-forward neurons, those with the
      largest ``|W_in row| * |W_out column|`` (data-free magnitude pruning: the FFN is two thirds
      of the multiply-adds per token).
    * ``quantise_first_layer``: int8 for layer 0 too (the default keeps it in float, see
      ``_export_and_quantise``)."""

    layers: int = 6
    ffn_neurons: int = 1536
    quantise_first_layer: bool = False

    @property
    def name(self) -> str:
        parts = ([f"l{self.layers}"] if self.layers != 6 else []) + (
            [f"ffn{self.ffn_neurons}"] if self.ffn_neurons != 1536 else []) + (
            ["qall"] if self.quantise_first_layer else [])
        return "-".join(["minilm", *parts, "onnx-int8"])

    @classmethod
    def parse(cls, spec: str) -> "OnnxRecipe":
        """``l3``, ``ffn1024``, ``qall`` or a mix joined by ``-`` (``l4-ffn1024``)."""
        fields: dict = {}
        for part in filter(None, spec.split("-")):
            if part.startswith("l") and part[1:].isdigit() and 1 <= int(part[1:]) <= 6:
                fields["layers"] = int(part[1:])
            elif part.startswith("ffn") and part[3:].isdigit() and 1 <= int(part[3:]) <= 1536:
                fields["ffn_neurons"] = int(part[3:])
            elif part == "qall":
                fields["quantise_first_layer"] = True
            else:
                raise ConfigError(f"ONNX recipe {spec!r}: unknown part {part!r}; use l<1-6>, ffn<1-1536>, qall")
        return cls(**fields)


DEFAULT_RECIPE = OnnxRecipe()


def onnx_build_key(recipe: OnnxRecipe = DEFAULT_RECIPE) -> str:
    """Folder name of the built model: the source hash plus the recipe and tool versions. The
    default recipe hashes exactly as before recipes existed, so its built folder stays valid."""
    import onnxruntime
    import torch

    key = {"source": source_sha256(), "recipe": RECIPE_VERSION, "torch": torch.__version__,
           "onnxruntime": onnxruntime.__version__, "max_tokens": MAX_TOKENS}
    if recipe != DEFAULT_RECIPE:
        key["cut"] = asdict(recipe)
    return f"{recipe.name}-" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def build_onnx_minilm(root: Path | None = None, recipe: OnnxRecipe = DEFAULT_RECIPE) -> Path:
    """The folder holding ``model.onnx`` (int8) and ``tokenizer.json``, building it if missing."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError("embedder minilm-onnx-int8 needs onnxruntime and onnx; fix: pip install "
                             "onnxruntime onnx (or use --embedder minilm)") from exc
    root = root or cache_root()
    final = root / onnx_build_key(recipe)
    if (final / "model.onnx").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the finished build
        try:
            if (final / "model.onnx").is_file():
                return final
            work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
            try:
                _export_and_quantise(work, recipe)
                os.replace(work, final)  # atomic: readers see no folder or a complete one
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final


def _export_and_quantise(work: Path, recipe: OnnxRecipe = DEFAULT_RECIPE) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from tunewise.embeddings import minilm_folder

    folder = minilm_folder()

    class Pooled(torch.nn.Module):
        """BERT, then sentence-transformers' mean pooling and normalisation, as one graph."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    bert = _cut(AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval(), recipe)
    example = torch.ones((2, 8), dtype=torch.long)
    float_path = work / "model-float.onnx"
    with torch.inference_mode():
        torch.onnx.export(Pooled(bert), (example, example, torch.zeros_like(example)), str(float_path),
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
                          dynamic_axes={name: {0: "batch", 1: "tokens"}
                                        for name in ("input_ids", "attention_mask", "token_type_ids")}
                          | {"embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    # int8 weights, activations quantised per call: no calibration data, so the build is a pure
    # function of the weights (reproducible). MatMul only (the ops where int8 pays on AVX2), one
    # scale per output channel, and the first layer kept in float: measured on 181 gate texts,
    # per-tensor scales gave cosine to torch MiniLM min 0.936 / mean 0.969, per-channel 0.989 /
    # 0.994, per-channel with layer 0 in float 0.990 / 0.996 for ~5% more time (re-measured side by
    # side with the benchmark's recipes: int8 layer 0 saves ~11% of the CPU, OnnxRecipe "qall").
    import onnx

    first_layer = [node.name for node in onnx.load(str(float_path)).graph.node
                   if node.op_type == "MatMul" and "/layer.0/" in node.name and not recipe.quantise_first_layer]
    quantize_dynamic(str(float_path), str(work / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=first_layer)
    float_path.unlink()
    shutil.copy(folder / "tokenizer.json", work / "tokenizer.json")
    cut = {"cut": asdict(recipe)} if recipe != DEFAULT_RECIPE else {}
    (work / "build.json").write_text(json.dumps({"source_sha256": source_sha256(), "recipe": RECIPE_VERSION, **cut},
                                                indent=1) + "\n")


def _cut(bert, recipe: OnnxRecipe):
    """Drop layers and feed-forward neurons as ``recipe`` says (in place; the default: no change)."""
    import torch

    bert.encoder.layer = bert.encoder.layer[:recipe.layers]
    bert.config.num_hidden_layers = recipe.layers
    if recipe.ffn_neurons == bert.config.intermediate_size:
        return bert
    with torch.no_grad():
        for layer in bert.encoder.layer:
            into, out = layer.intermediate.dense, layer.output.dense
            kept = torch.argsort(into.weight.norm(dim=1) * out.weight.norm(dim=0), descending=True)
            kept = kept[:recipe.ffn_neurons].sort().values
            narrow_in = torch.nn.Linear(into.in_features, recipe.ffn_neurons)
            narrow_in.weight.copy_(into.weight[kept])
            narrow_in.bias.copy_(into.bias[kept])
            narrow_out = torch.nn.Linear(recipe.ffn_neurons, out.out_features)
            narrow_out.weight.copy_(out.weight[:, kept])
            narrow_out.bias.copy_(out.bias)
            layer.intermediate.dense, layer.output.dense = narrow_in, narrow_out
    return bert


class OnnxMiniLM:
    """Tokenise with the packaged fast tokenizer, run the int8 graph on one thread. One intra-op
    thread: on a shared 2-core machine two threads wait on each other (benchmarks/gate_embedders.py
    measures both side by side), and the gate's micro-batcher supplies throughput under load.
    With more threads the pool's workers block instead of spinning between runs, so an idle
    gateway burns no CPU that other processes (or the other embedders in a benchmark) need."""

    def __init__(self, folder: Path, threads: int = 1):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # one text per run: nothing to pad

    def __call__(self, texts: list[str]) -> np.ndarray:
        """One graph run per text. Dynamic quantisation scales activations per tensor, so in a
        padded batch a text's vector would depend on the other texts beside it (measured: a
        different embedding, not only rounding), and a gate decision on what else was in the
        micro-batch. Alone, each text is embedded the same way every time; on CPU batching saved
        little anyway (the cost is per token)."""
        out = np.empty((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
            out[row] = self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                               "token_type_ids": np.zeros_like(ids)})[0][0]
        return out


class CachedEmbedder:
    """An embedder that remembers the last ``size`` texts' vectors (least recently used out).

    A chat client re-sends the whole conversation every turn, so without a cache the gate
    re-embeds every earlier message (and the system prompt) on each turn; with it, a turn costs
    one embedding for its new text. Vectors are copied out, so callers cannot alter the cache."""

    def __init__(self, embedder: Embedder, size: int):
        from collections import OrderedDict

        self.embedder, self.size = embedder, size
        self.name = getattr(embedder, "name", None)
        self._memory: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), 384), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                vector = self._memory.get(text)
                if vector is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._memory.move_to_end(text)
                    out[row] = vector
            self.hits += len(texts) - sum(len(rows) for rows in missing.values())
            self.misses += sum(len(rows) for rows in missing.values())
        if missing:
            vectors = self.embedder(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), vectors):
                    out[rows] = vector
                    self._memory[text] = vector.copy()
                while len(self._memory) > self.size:
                    self._memory.popitem(last=False)
        return out


def _onnx_minilm() -> NamedEmbedder:
    return NamedEmbedder("minilm-onnx-int8", source_sha256(), OnnxMiniLM(build_onnx_minilm()))
