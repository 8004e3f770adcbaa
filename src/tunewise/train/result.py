"""``TrainResult``: what a finished training run produced, readable without torch.

Kept apart from the loop so ``run_train``'s callers (the CLI, the pipeline, the report) can use
the type without importing torch; it is also the on-disk ``train_result.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainResult:
    """What a finished run produced; ``adapter_dir`` works as ``<model>+lora:<adapter_dir>``."""

    adapter_dir: Path
    checkpoints: list[tuple[int, Path]]
    losses: list[tuple[int, float]]
    tokens_per_s: float
    wall_s: float
    n_examples: int
    n_replay: int = 0
    steps: int = 0
    resumed_from: int | None = None
    merged_dir: Path | None = None
    kl: list[tuple[int, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"adapter_dir": str(self.adapter_dir), "checkpoints": [[s, str(d)] for s, d in self.checkpoints],
                "losses": [list(x) for x in self.losses], "tokens_per_s": self.tokens_per_s, "wall_s": self.wall_s,
                "n_examples": self.n_examples, "n_replay": self.n_replay, "steps": self.steps,
                "resumed_from": self.resumed_from, "merged_dir": str(self.merged_dir) if self.merged_dir else None,
                "kl": [list(x) for x in self.kl]}

    @classmethod
    def from_json(cls, data: dict) -> "TrainResult":
        return cls(adapter_dir=Path(data["adapter_dir"]), checkpoints=[(s, Path(d)) for s, d in data["checkpoints"]],
                   losses=[(s, l) for s, l in data["losses"]], tokens_per_s=data["tokens_per_s"],
                   wall_s=data["wall_s"], n_examples=data["n_examples"], n_replay=data.get("n_replay", 0),
                   steps=data.get("steps", 0), resumed_from=data.get("resumed_from"),
                   merged_dir=Path(data["merged_dir"]) if data.get("merged_dir") else None,
                   kl=[(s, v) for s, v in data.get("kl", [])])
