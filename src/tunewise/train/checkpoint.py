"""Checkpoints that resume a run exactly, stored without pickle.

``out_dir/checkpoints/step-000N/`` holds a loadable PEFT adapter (``adapter_config.json`` +
``adapter_model.safetensors``) plus ``state.safetensors`` (trainable weights by name, optimizer
tensors, torch RNG states) and ``state.json`` (step, data position, loss history, optimizer
scalars, Python/NumPy RNG). A checkpoint is written into a temporary folder and renamed into
place, and ``state.json`` is written last, so a ``kill -9`` mid-write leaves either the previous
checkpoint or a complete new one, never a half one that would be resumed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"


def checkpoint_dir(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step-{step:04d}"


def list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    root = out_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if folder.name.startswith("step-") and (folder / STATE_JSON).exists():
            try:
                found.append((int(folder.name.split("-", 1)[1]), folder))
            except ValueError:
                continue
    return sorted(found)


def _optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()} for group in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in group.items()} for group in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = value
    np_state = np.random.get_state()
    return tensors, {"python": _jsonable(random.getstate()),
                     "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda_keys = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    cuda = [tensors[k] for k in cuda_keys]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def save_checkpoint(out_dir: Path, step: int, peft_model, optimizer, info: dict) -> Path:
    """Write checkpoint ``step`` atomically; ``info`` (JSON-able) holds data position, losses, ..."""
    final = checkpoint_dir(out_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    peft_model.save_pretrained(str(tmp), safe_serialization=True)
    tensors = {f"param.{name}": p.detach().cpu().contiguous()
               for name, p in peft_model.named_parameters() if p.requires_grad}
    optim_tensors, optim_meta = _optimizer_to_flat(optimizer)
    rng_tensors, rng_meta = rng_state()
    save_file({**tensors, **optim_tensors, **rng_tensors}, str(tmp / STATE_TENSORS))
    state = {**info, "step": step, "optimizer": optim_meta, "rng": rng_meta}
    with open(tmp / STATE_JSON, "w") as handle:
        json.dump(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def load_checkpoint(folder: Path, peft_model, optimizer) -> dict:
    """Restore trainable weights, optimizer and RNG from ``folder``; return its ``state.json``."""
    with open(folder / STATE_JSON) as handle:
        state = json.load(handle)
    tensors = load_file(str(folder / STATE_TENSORS))
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for key, value in tensors.items():
            if key.startswith("param."):
                params[key[len("param."):]].copy_(value)
    # load_state_dict moves optimizer tensors to their parameters' device and dtype itself
    _optimizer_from_flat(optimizer, tensors, state["optimizer"])
    restore_rng(tensors, state["rng"])
    return state


def read_state(folder: Path) -> dict | None:
    """A checkpoint's ``state.json``, or None when it is unreadable (truncated, not JSON)."""
    try:
        state = json.loads((folder / STATE_JSON).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def load_newest_intact(out_dir: Path, peft_model, optimizer) -> tuple[tuple[int, Path, dict] | None, list[str]]:
    """Resume from the newest checkpoint that loads; a damaged newer one (a truncated
    ``state.json`` or tensor file, a missing key) is skipped, not fatal, because an older intact
    checkpoint still saves all the work before it. Returns ((step, folder, state) or None when
    there is no checkpoint, skipped), where ``skipped`` says which folders were passed over and
    why. When checkpoints exist but none loads, a ConfigError names them: the model may hold
    half-restored weights, so starting over silently would be wrong."""
    from tunewise.errors import ConfigError

    skipped: list[str] = []
    for step, folder in reversed(list_checkpoints(out_dir)):
        try:
            state = load_checkpoint(folder, peft_model, optimizer)
            for key in ("losses", "tokens_seen", "elapsed_s"):
                if key not in state:
                    raise KeyError(key)
        except Exception as exc:  # any damage: a checkpoint is only trusted if every part loads
            skipped.append(f"{folder.name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        return (step, folder, state), skipped
    if skipped:
        raise ConfigError(f"{out_dir / 'checkpoints'}: no checkpoint loads ({'; '.join(skipped)}); remove that "
                          "folder to train from the start")
    return None, skipped


def prune_checkpoints(out_dir: Path, keep: int | None) -> None:
    if keep is None:
        return
    for _, folder in list_checkpoints(out_dir)[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)
