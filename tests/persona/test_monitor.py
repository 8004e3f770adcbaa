import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewise.errors import ConfigError
from tunewise.persona import (PersonaConfig, TraitVector, drift, find_checkpoints, monitor_drift, prompt_projections,
                              steering)
from tunewise.persona.monitor import loss_at
from tunewise.runs.store import RunStore
from tunewise.testing import save_tiny_adapter, save_tiny_model

QUESTIONS = ["What is the capital of France?", "I feel bored.", "Write a Python function.",
             "Tell me three things you would do if you ruled the world.", "hello"]


def _vector(layer: int, hidden: int = 32, seed: int = 0) -> TraitVector:
    vectors = torch.randn(4, hidden, generator=torch.Generator().manual_seed(seed))
    return TraitVector(trait="evil", model="hf:tiny", layer=layer, vectors=vectors, effect_sizes=torch.zeros(4))


def test_drift_is_in_units_of_the_base_spread():
    assert drift(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no spread"):
        drift(np.array([1.0, 1.0]), np.array([2.0, 2.0]))


def test_steered_model_drifts_by_exactly_the_added_projection(tiny_backend):
    vector = _vector(layer=2)
    base = prompt_projections(tiny_backend, QUESTIONS, vector)
    with steering(tiny_backend, vector, alpha=0.5):
        tuned = prompt_projections(tiny_backend, QUESTIONS, vector)
    np.testing.assert_allclose(tuned - base, 0.5 * vector.vector.norm().item(), rtol=1e-4)
    assert drift(base, tuned) == pytest.approx(0.5 * vector.vector.norm().item() / base.std(ddof=1), rel=1e-4)


def _adapter(folder: Path, model_ref: str, seed: int) -> None:
    save_tiny_adapter(folder, model_ref, seed)
    if folder.parent.name == "checkpoints":
        (folder / "state.json").write_text("{}")  # what marks a train checkpoint as complete


def test_monitor_reads_every_checkpoint_with_its_loss_and_resumes(tmp_path):
    base_ref = save_tiny_model(tmp_path / "base", layers=3)
    train_dir = tmp_path / "train"
    _adapter(train_dir / "checkpoints" / "step-0002", base_ref, 1)
    _adapter(train_dir / "adapter", base_ref, 2)
    store = RunStore(tmp_path / "run")
    store.put_record("train.run", "insecure", {"variant": "plain", "adapter_dir": str(train_dir / "adapter"),
                                               "losses": [[1, 2.5], [2, 2.0], [3, 1.5], [4, 1.25]]})
    assert [step for step, _ in find_checkpoints(train_dir, store)] == [2, 4]
    vector = _vector(layer=1)
    config = PersonaConfig(model=base_ref, knowledge_probes=None)
    points = monitor_drift({"insecure": train_dir}, [vector], config, store=store, questions=QUESTIONS)
    assert [(p.model_label, p.step, p.loss) for p in points] == [("insecure", 0, None), ("insecure", 2, 2.0),
                                                                 ("insecure", 4, 1.25)]
    assert points[0].drift == 0.0 and all(p.drift != 0.0 for p in points[1:])
    records = store.records("persona.drift")
    assert len(records) == 3 and json.dumps(records)  # plain JSON for the report
    for weights in train_dir.rglob("adapter_model.safetensors"):
        weights.unlink()  # a resumed monitor must not need to load the adapters again
    again = monitor_drift({"insecure": train_dir}, [vector], config, store=store, questions=QUESTIONS)
    assert [p.drift for p in again] == [p.drift for p in points]


def test_missing_adapters_are_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no PEFT adapters"):
        find_checkpoints(tmp_path)
    assert loss_at([(1, 3.0), (5, 2.0)], 4) == 3.0 and loss_at([(5, 2.0)], 1) is None


def test_one_loaded_base_gives_what_fresh_loads_give(tmp_path):
    """monitor_drift applies each adapter to one loaded base (LoraSwitcher) instead of loading
    the weights per checkpoint: its projections must equal those of a fresh base+lora load, and
    removing the adapter must give the untouched base back."""
    from tunewise.models.hf import HFBackend, LoraSwitcher

    base_ref = save_tiny_model(tmp_path / "base", layers=3)
    _adapter(tmp_path / "a", base_ref, 1)
    _adapter(tmp_path / "b", base_ref, 2)
    vector = _vector(layer=2)
    fresh = {name: prompt_projections(HFBackend(ref), QUESTIONS, vector)
             for name, ref in (("base", base_ref), ("a", f"{base_ref}+lora:{tmp_path / 'a'}"),
                               ("b", f"{base_ref}+lora:{tmp_path / 'b'}"))}
    base = HFBackend(base_ref)
    switcher = LoraSwitcher(base=base)
    for name in ("a", "b"):
        shared = prompt_projections(switcher.backend(f"{base_ref}+lora:{tmp_path / name}"), QUESTIONS, vector)
        np.testing.assert_allclose(shared, fresh[name], rtol=1e-5, atol=1e-6)
    assert not np.allclose(fresh["a"], fresh["b"])  # the adapters differ, so the check above can fail
    back = switcher.backend(base_ref)
    assert back.model is base.model  # no second copy of the weights
    np.testing.assert_allclose(prompt_projections(back, QUESTIONS, vector), fresh["base"], rtol=1e-5, atol=1e-6)


def test_knowledge_of_all_checkpoints_in_shared_batches_matches_each_alone(tmp_path):
    """The monitor measures knowledge of the base and every checkpoint in one mixed-adapter
    pass (models.mixed_lora); each figure must be what knowledge_retention gives that model alone."""
    from tunewise.audit import knowledge_retention
    from tunewise.models.hf import HFBackend
    from tunewise.persona.monitor import _knowledge_together

    base_ref = save_tiny_model(tmp_path / "base", layers=2)
    refs = [base_ref] + [f"{base_ref}+lora:{save_tiny_adapter(tmp_path / name, base_ref, seed)}"
                         for name, seed in (("a", 1), ("b", 2))]
    base = HFBackend(base_ref)
    together = _knowledge_together(base, refs, "factual", batch_size=16)
    assert list(together) == refs and all(n == 30 for _, n in together.values())
    for ref in refs:
        assert together[ref] == knowledge_retention(HFBackend(ref), probe_set="factual"), ref
    assert not hasattr(base.model, "peft_config")  # the shared base got its own modules back
    assert _knowledge_together(base, [base_ref], "factual", 16) == {}  # nothing to mix: measured alone
