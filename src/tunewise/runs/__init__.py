"""Run folders: config.yaml + tunewise.sqlite (generations, judgments, metrics, records, stages)."""

from tunewise.runs.store import RunStore, make_key

__all__ = ["RunStore", "make_key"]
