"""``run_train``: the one entry point of the train capability (CLI, pipeline and notebooks).

It decides where a run's files go — the adapter folder is ``<run_dir>/adapters/<variant>``, the
``train.step``/``train.run`` records go to the run folder's store — and hands the work to
``train_lora``. So ``tunewise train --run-dir R --variant V`` and the pipeline's train stage
for variant V in run folder R write the same folder and resume each other's checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from tunewise.data.chat import ChatExample
from tunewise.runs.store import RunStore, check_run_folder
from tunewise.train.config import TrainConfig
from tunewise.train.result import TrainResult

DEFAULT_RUN_DIR = Path("runs/train")


def adapter_folder(run_dir: str | Path, variant: str) -> Path:
    """Where a variant's training lives: checkpoints/, adapter/ (the final PEFT adapter), ..."""
    return Path(run_dir) / "adapters" / variant


def run_train(config: TrainConfig, run_dir: str | Path | None = None, *, store: RunStore | None = None,
              examples: list[ChatExample] | None = None) -> TrainResult:
    """Fine-tune ``config.model`` with LoRA into ``<run_dir>/adapters/<config.variant>``.

    ``run_dir`` defaults to the store's folder when ``store`` is given, else ``runs/train``.
    ``examples`` replaces ``config.data`` (e.g. assess trains on its task's chats). Re-running
    resumes from the newest checkpoint; a finished run is returned without training.
    """
    from tunewise.train.loop import train_lora  # torch loads here, not on import

    if run_dir is None:
        run_dir = store.run_dir if store is not None else DEFAULT_RUN_DIR
    run_dir = Path(run_dir)
    check_run_folder(run_dir)  # also when a shared store is passed in
    own_store = store is None
    store = RunStore(run_dir) if own_store else store
    try:
        return train_lora(config, adapter_folder(run_dir, config.variant), store=store, examples=examples)
    finally:
        if own_store:
            store.close()
