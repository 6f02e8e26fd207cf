"""The resumable answer store: SQLite in WAL mode, one row per (study_id, teacher, prompt_hash).

Layout (default path `<out>/.driftalign/collect.sqlite`, `<out>` defaulting to the dataset):

    answers(study_id, teacher, prompt_hash,   -- primary key; prompt_hash = prompt + model + params
            status,                           -- 'ok' | 'failed'
            prompt, response, meta,           -- meta: JSON (model, tokens, latency_s, cost_usd ...)
            error, attempts, updated_at)

Each answer is committed the moment it arrives (WAL, synchronous=NORMAL: a SIGKILL or Ctrl-C
cannot lose a committed row; only an OS crash / power loss may roll back the last few). An 'ok'
row is never overwritten, so a rerun never asks for an answer the store has; 'failed' rows are
asked again on the next run. The API key is never written here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"
OK = "ok"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    study_id    TEXT NOT NULL,
    teacher     TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    prompt      TEXT NOT NULL,
    response    TEXT,
    meta        TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (study_id, teacher, prompt_hash)
);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Insert, or update a previous *failed* row; an 'ok' row is final.
_UPSERT = """
INSERT INTO answers (study_id, teacher, prompt_hash, status, prompt, response, meta, error, attempts, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (study_id, teacher, prompt_hash) DO UPDATE SET
    status = excluded.status, prompt = excluded.prompt, response = excluded.response, meta = excluded.meta,
    error = excluded.error, attempts = answers.attempts + excluded.attempts, updated_at = excluded.updated_at
WHERE answers.status != 'ok'
"""

Key = tuple[str, str, str]  # (study_id, teacher, prompt_hash)


@dataclass(frozen=True)
class StoredAnswer:
    study_id: str
    teacher: str
    prompt_hash: str
    status: str
    prompt: str
    response: str | None
    meta: dict[str, Any]
    error: str | None
    attempts: int

    @property
    def key(self) -> Key:
        return (self.study_id, self.teacher, self.prompt_hash)


class AnswerStore:
    """Open (creating if needed) the store at `path`. Use as a context manager or call close()."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO store_info VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        self._db.commit()

    def __enter__(self) -> AnswerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def ok_keys(self) -> set[Key]:
        rows = self._db.execute("SELECT study_id, teacher, prompt_hash FROM answers WHERE status = 'ok'")
        return {tuple(r) for r in rows}  # type: ignore[misc]

    def record_ok(self, key: Key, prompt: str, response: str, meta: dict[str, Any], attempts: int) -> None:
        self._write(key, OK, prompt, response, meta, None, attempts)

    def record_failed(self, key: Key, prompt: str, error: str, attempts: int) -> None:
        self._write(key, FAILED, prompt, None, {}, error, attempts)

    def _write(self, key: Key, status: str, prompt: str, response: str | None, meta: dict[str, Any],
               error: str | None, attempts: int) -> None:
        with self._db:  # one transaction, committed on exit
            self._db.execute(_UPSERT, (*key, status, prompt, response, json.dumps(meta), error, attempts, time.time()))

    def get(self, key: Key) -> StoredAnswer | None:
        row = self._db.execute(
            "SELECT study_id, teacher, prompt_hash, status, prompt, response, meta, error, attempts FROM answers "
            "WHERE study_id = ? AND teacher = ? AND prompt_hash = ?", key).fetchone()
        return _row_to_answer(row) if row else None

    def all(self) -> list[StoredAnswer]:
        rows = self._db.execute(
            "SELECT study_id, teacher, prompt_hash, status, prompt, response, meta, error, attempts FROM answers")
        return [_row_to_answer(r) for r in rows]


def _row_to_answer(row: tuple[Any, ...]) -> StoredAnswer:
    sid, teacher, phash, status, prompt, response, meta, error, attempts = row
    return StoredAnswer(sid, teacher, phash, status, prompt, response, json.loads(meta), error, attempts)
