"""The run folder's SQLite store: every generation, judgment, metric and result record is
written the moment it is produced, under a key that says what produced it, so an interrupted
stage resumes by skipping the keys already present and a re-judge never re-samples.

WAL mode lets the report (or a second process) read while a stage writes. One connection per
store guarded by a lock: simple, and SQLite serialises writes anyway.

The schema has a version (SQLite's ``user_version``): a store from an older tunewise is migrated
in place (columns added, nothing dropped), one from a newer tunewise is refused, and a damaged
or foreign file is a ``StoreError`` naming the file and the fix instead of a raw sqlite3
traceback. Nothing already written is deleted by any of these paths.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tunewise.errors import ConfigError
from tunewise.models.types import Chat, Completion

SCHEMA_VERSION = 1
# Columns added after a table first shipped: (table, column, SQL type). A store without one is
# migrated by adding it (values NULL), so old run folders keep working.
ADDED_COLUMNS = (("records", "seq", "INTEGER"),)

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, model TEXT NOT NULL, chat TEXT NOT NULL,
    chat_index INTEGER, sample_index INTEGER, text TEXT NOT NULL, prompt_tokens INTEGER,
    completion_tokens INTEGER, finish_reason TEXT, seed INTEGER, params TEXT, meta TEXT,
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS generations_stage ON generations(stage, model);
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY, generation_key TEXT NOT NULL, judge TEXT NOT NULL, aligned REAL,
    coherent REAL, label TEXT, raw TEXT, error TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS judgments_judge ON judgments(judge);
CREATE TABLE IF NOT EXISTS metrics (
    stage TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL DEFAULT '', value REAL,
    extra TEXT, created REAL NOT NULL, PRIMARY KEY (stage, name, model));
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL,
    seq INTEGER, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS stages (
    stage TEXT PRIMARY KEY, info TEXT, finished REAL NOT NULL);
"""

JSON_COLUMNS = {"chat", "params", "meta", "raw", "extra", "payload", "info"}
TABLES = ("generations", "judgments", "metrics", "records", "stages")


class StoreError(ConfigError):
    """The run folder's store cannot be used as it is (damaged, foreign, or from a newer tunewise)."""


def check_run_folder(run_dir: Path) -> None:
    """A run folder given as an existing file would fail deep inside SQLite or mkdir; say so first."""
    if run_dir.exists() and not run_dir.is_dir():
        raise StoreError(f"--run-dir {run_dir}: is a file, not a folder; give a new or existing run folder")


def make_key(*parts: Any) -> str:
    """A stable key for anything JSON-serialisable: the same inputs give the same key in every run."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class RunStore:
    """One run folder: ``config.yaml`` beside ``tunewise.sqlite``."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        check_run_folder(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "tunewise.sqlite"
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._open()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable tunewise store ({exc}); move it aside "
                             f"(mv {self.path} {self.path}.broken) to start a new one; the rest of the run folder "
                             "(adapters, vectors, gate) is kept and finished work is re-used where it is on disk") from None

    def _open(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer tunewise (store schema {version}, this one reads up "
                             f"to {SCHEMA_VERSION}); upgrade tunewise to read it")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:  # migrate a store from an older tunewise in place
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        if version < SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- plumbing ------------------------------------------------------------------------
    def _write(self, sql: str, values: tuple) -> None:
        with self._lock:
            self._db.execute(sql, values)

    def _rows(self, sql: str, values: tuple = ()) -> list[dict]:
        try:
            with self._lock:
                rows = self._db.execute(sql, values).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot be read ({exc}); move it aside (mv {self.path} "
                             f"{self.path}.broken) to start a new store") from None
        result = []
        for row in rows:
            item = dict(row)
            for column in JSON_COLUMNS & item.keys():
                if item[column] is not None:
                    try:
                        item[column] = json.loads(item[column])
                    except ValueError:
                        raise StoreError(f"{self.path}: a {column} value is not JSON (row {item.get('key', '?')}); "
                                         "the store was edited or damaged") from None
            result.append(item)
        return result

    # ---- config --------------------------------------------------------------------------
    def save_config(self, config: dict) -> Path:
        """Write the resolved config beside the database (secrets must not be in it)."""
        path = self.run_dir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        return path

    def load_config(self) -> dict | None:
        path = self.run_dir / "config.yaml"
        return yaml.safe_load(path.read_text()) if path.exists() else None

    # ---- generations ---------------------------------------------------------------------
    def add_generation(self, key: str, stage: str, model: str, chat: Chat, completion: Completion,
                       params: dict, meta: dict | None = None) -> None:
        self._write(
            "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, stage, model, json.dumps(chat, ensure_ascii=False), completion.chat_index,
             completion.sample_index, completion.text, completion.prompt_tokens, completion.completion_tokens,
             completion.finish_reason, completion.seed, json.dumps(params), json.dumps(meta or {}), time.time()),
        )

    def generations(self, stage: str | None = None, model: str | None = None) -> list[dict]:
        sql, values = "SELECT * FROM generations WHERE 1=1", []
        if stage is not None:
            sql, values = sql + " AND stage=?", values + [stage]
        if model is not None:
            sql, values = sql + " AND model=?", values + [model]
        return self._rows(sql + " ORDER BY rowid", tuple(values))

    def generation_keys(self, stage: str | None = None) -> set[str]:
        rows = self._rows("SELECT key FROM generations" + (" WHERE stage=?" if stage else ""),
                          (stage,) if stage else ())
        return {row["key"] for row in rows}

    # ---- judgments -----------------------------------------------------------------------
    def add_judgment(self, key: str, generation_key: str, judge: str, aligned: float | None,
                     coherent: float | None, label: str | None, raw: dict | None = None,
                     error: str | None = None) -> None:
        """Record a judgment, or a failure (``error`` set, scores None): failures are never 0."""
        self._write("INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?,?,?,?,?)",
                    (key, generation_key, judge, aligned, coherent, label,
                     json.dumps(raw or {}, default=str), error, time.time()))

    def judgments(self, judge: str | None = None) -> list[dict]:
        if judge is None:
            return self._rows("SELECT * FROM judgments ORDER BY rowid")
        return self._rows("SELECT * FROM judgments WHERE judge=? ORDER BY rowid", (judge,))

    def judgment_keys(self, judge: str | None = None) -> set[str]:
        return {row["key"] for row in self.judgments(judge)}

    # ---- metrics -------------------------------------------------------------------------
    def put_metric(self, stage: str, name: str, value: float, model: str = "", extra: dict | None = None) -> None:
        self._write("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?)",
                    (stage, name, model, float(value), json.dumps(extra or {}, default=str), time.time()))

    def metrics(self, stage: str | None = None) -> list[dict]:
        if stage is None:
            return self._rows("SELECT * FROM metrics ORDER BY rowid")
        return self._rows("SELECT * FROM metrics WHERE stage=? ORDER BY rowid", (stage,))

    # ---- generic records -----------------------------------------------------------------
    def put_record(self, kind: str, key: str, payload: dict) -> None:
        """Upsert a result record; ``records(kind)`` returns payloads in first-insertion order."""
        with self._lock:
            existing = self._db.execute("SELECT seq FROM records WHERE kind=? AND key=?", (kind, key)).fetchone()
            seq = existing["seq"] if existing else self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()[0]
            self._db.execute("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?)",
                             (kind, key, json.dumps(payload, ensure_ascii=False, default=str), time.time(), seq))

    def records(self, kind: str) -> list[dict]:
        return [row["payload"] for row in self._rows("SELECT payload FROM records WHERE kind=? ORDER BY seq", (kind,))]

    def get_record(self, kind: str, key: str) -> dict | None:
        rows = self._rows("SELECT payload FROM records WHERE kind=? AND key=?", (kind, key))
        return rows[0]["payload"] if rows else None

    def delete_records(self, kind: str) -> None:
        self._write("DELETE FROM records WHERE kind=?", (kind,))

    # ---- stages --------------------------------------------------------------------------
    def mark_stage_done(self, stage: str, info: dict | None = None) -> None:
        self._write("INSERT OR REPLACE INTO stages VALUES (?,?,?)",
                    (stage, json.dumps(info or {}, default=str), time.time()))

    def stage_done(self, stage: str) -> bool:
        return bool(self._rows("SELECT stage FROM stages WHERE stage=?", (stage,)))

    def stage_info(self, stage: str) -> dict | None:
        rows = self._rows("SELECT info FROM stages WHERE stage=?", (stage,))
        return rows[0]["info"] if rows else None

    def clear_stage(self, stage: str) -> None:
        """Forget that a stage finished (its rows stay, so a re-run still skips done work)."""
        self._write("DELETE FROM stages WHERE stage=?", (stage,))

    # ---- export --------------------------------------------------------------------------
    def export(self, table: str, path: str | Path) -> Path:
        """Export a table to ``.jsonl`` or ``.csv`` (JSON columns stay JSON text in CSV)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; one of {', '.join(TABLES)}")
        path = Path(path)
        rows = self._rows(f"SELECT * FROM {table} ORDER BY rowid")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jsonl":
            with open(path, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        elif path.suffix == ".csv":
            with open(path, "w", encoding="utf-8", newline="") as out:
                columns = list(rows[0]) if rows else []
                writer = csv.DictWriter(out, fieldnames=columns)
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                                     for k, v in row.items()})
        else:
            raise ValueError(f"{path}: export to .jsonl or .csv")
        return path
