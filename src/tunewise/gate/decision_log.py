"""The gateway's decision log: one SQLite row per gated request, written off the request path.

Requests hand rows to a queue; one writer thread commits them in batches, so a slow disk never
adds latency to a request and a burst costs one transaction, not hundreds. ``close()`` drains
the queue, which is why graceful shutdown loses no decision. Input text is stored only when
asked (``log_texts``): by default the row keeps a SHA-256 and the length, enough to count
repeats without keeping what users wrote.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gate_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    detectors TEXT NOT NULL,
    n_messages INTEGER NOT NULL,
    n_chars INTEGER NOT NULL,
    text_sha256 TEXT NOT NULL,
    text TEXT,
    status INTEGER,
    gate_ms REAL,
    total_ms REAL,
    monitor_status TEXT,
    monitor TEXT
);
CREATE INDEX IF NOT EXISTS gate_decisions_ts ON gate_decisions(ts);
"""
_COLUMNS = ("ts", "request_id", "model", "allowed", "score", "threshold", "detectors", "n_messages", "n_chars",
            "text_sha256", "text", "status", "gate_ms", "total_ms", "monitor_status", "monitor")
# columns added after the first release: older logs get them on open (ALTER TABLE keeps the rows)
_ADDED_COLUMNS = {"monitor_status": "TEXT", "monitor": "TEXT"}
_STOP = object()
GROUP_COMMIT_S = 0.05  # a row waits at most this long before its transaction (close() writes everything)


class DecisionLog:
    def __init__(self, path: str | Path, log_texts: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.log_texts = log_texts
        self._queue: queue.Queue = queue.Queue()
        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(_SCHEMA)
        present = {row[1] for row in connection.execute("PRAGMA table_info(gate_decisions)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                connection.execute(f"ALTER TABLE gate_decisions ADD COLUMN {column} {kind}")
        connection.commit()
        connection.close()
        self._thread = threading.Thread(target=self._write_loop, name="gate-decision-log", daemon=True)
        self._thread.start()

    def log(self, *, request_id: str, model: str, allowed: bool, score: float, threshold: float,
            detectors: dict[str, float], texts: list[str], status: int, gate_ms: float, total_ms: float,
            monitor: dict | None = None) -> None:
        """Queue one row; ``monitor`` is the answer monitor's verdict (status, per-choice scores)."""
        joined = "\n\x1e".join(texts)
        self._queue.put((time.time(), request_id, model, int(allowed), score, threshold, json.dumps(detectors),
                         len(texts), len(joined), hashlib.sha256(joined.encode()).hexdigest(),
                         joined if self.log_texts else None, status, gate_ms, total_ms,
                         monitor["status"] if monitor else None, json.dumps(monitor) if monitor else None))

    def _write_loop(self) -> None:
        connection = sqlite3.connect(self.path)
        insert = f"INSERT INTO gate_decisions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        stopping = False
        while not stopping:
            rows = [self._queue.get()]
            if rows[0] is not _STOP:
                # group commit: one transaction (one WAL sync) for the rows of the next 50 ms; under
                # load the writer committed ~0.7 times per request (289 -> 109 us of CPU per row)
                time.sleep(GROUP_COMMIT_S)
            while True:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if any(row is _STOP for row in rows):
                stopping = True
                rows = [row for row in rows if row is not _STOP]
            if rows:
                with connection:
                    connection.executemany(insert, rows)
        connection.close()

    def close(self) -> None:
        """Write every queued row, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()


def read_decisions(path: str | Path) -> list[dict]:
    """All logged decisions, oldest first (for reports, tests and re-fitting a gate)."""
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute("SELECT * FROM gate_decisions ORDER BY id").fetchall()
    finally:
        connection.close()
    return [{**dict(row), "detectors": json.loads(row["detectors"]), "allowed": bool(row["allowed"]),
             "monitor": json.loads(row["monitor"]) if row["monitor"] else None} for row in rows]
