"""A damaged, foreign, old or newer store gives a clear error naming the file and the fix (or is
migrated), never a raw sqlite3/JSON traceback; nothing already written is deleted."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.runs.store import SCHEMA_VERSION, RunStore, StoreError


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path):
    (tmp_path / "tunewise.sqlite").write_bytes(b"this is not sqlite, just bytes" * 100)
    with pytest.raises(StoreError, match=r"not a usable tunewise store .*move it aside"):
        RunStore(tmp_path)
    assert (tmp_path / "tunewise.sqlite").read_bytes().startswith(b"this is not sqlite")  # left as it was


def test_a_truncated_store_is_a_store_error(tmp_path):
    store = RunStore(tmp_path)
    for i in range(200):
        store.put_record("audit.rate", f"k{i}", {"value": "x" * 200})
    store.close()
    data = (tmp_path / "tunewise.sqlite").read_bytes()
    (tmp_path / "tunewise.sqlite").write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"tunewise.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreError):
        RunStore(tmp_path).records("audit.rate")


def test_a_newer_store_is_refused_and_an_old_one_migrated(tmp_path):
    newer = tmp_path / "newer"
    RunStore(newer).close()
    with sqlite3.connect(newer / "tunewise.sqlite") as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="written by a newer tunewise"):
        RunStore(newer)

    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / "tunewise.sqlite") as db:  # the records table before `seq` was added
        db.execute("CREATE TABLE records (kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, "
                   "created REAL NOT NULL, PRIMARY KEY (kind, key))")
        db.execute("INSERT INTO records VALUES ('audit.rate', 'old', '{\"kept\": true}', 0)")
    store = RunStore(old)
    store.put_record("audit.rate", "new", {"kept": False})
    assert {r["kept"] for r in store.records("audit.rate")} == {True, False}
    store.close()
    with sqlite3.connect(old / "tunewise.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_edited_row_is_a_store_error(tmp_path):
    store = RunStore(tmp_path)
    store.put_record("audit.rate", "k", {"a": 1})
    store._db.execute("UPDATE records SET payload='{not json'")
    with pytest.raises(StoreError, match="a payload value is not JSON"):
        store.records("audit.rate")


def test_the_cli_answers_a_damaged_store_with_one_line(tmp_path):
    (tmp_path / "tunewise.sqlite").write_bytes(b"\x00garbage" * 512)
    result = CliRunner().invoke(app, ["report", "--run-dir", str(tmp_path)])
    assert isinstance(result.exception, StoreError) and "move it aside" in str(result.exception)
    file_as_run_dir = tmp_path / "a-file"
    file_as_run_dir.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        RunStore(file_as_run_dir)
