"""The ciphertext store: envelopes, their seq and the day they arrived.

`EnvelopeStore` is the interface; `SQLiteStore` is the embedded default
(WAL, synchronous=FULL). Submissions are made durable by group commit: a
single committer thread takes every pending envelope, inserts them in one
transaction and commits once (one fsync), then releases each waiting
request with its seq. No request is answered before its row is committed.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from vault import Envelope

__all__ = ["EnvelopeStore", "NotEncrypted", "SQLiteStore", "Stored", "StorageUnavailable", "today"]

_MAX_GROUP = 1024
_WAIT_SECONDS = 30.0


class NotEncrypted(TypeError):
    """Raised before anything is written when asked to store something that
    is not a parsed, well-formed envelope."""


class StorageUnavailable(Exception):
    """The store could not make the envelope durable; nothing was stored."""


@dataclass(frozen=True)
class Stored:
    seq: int
    envelope_sha256: str
    received_on: str


def today() -> str:
    """The UTC day: the only arrival information the intake keeps."""
    return datetime.now(timezone.utc).date().isoformat()


class EnvelopeStore(Protocol):
    def append(self, envelope: Envelope) -> Stored: ...

    def rows_after(self, seq: int) -> Iterator[tuple[int, str, bytes]]: ...

    def last_seq(self) -> int: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    seq INTEGER PRIMARY KEY,
    received_on TEXT NOT NULL,
    kid TEXT NOT NULL,
    envelope BLOB NOT NULL,
    sha256 TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS exports (
    batch INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    exported_on TEXT NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_WAIT_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Pending:
    __slots__ = ("done", "envelope", "error", "result")

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.done = threading.Event()
        self.result: Stored | None = None
        self.error: BaseException | None = None


class SQLiteStore:
    """SQLite implementation of EnvelopeStore, with group commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)
        self._read = connect(path)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._commit_loop, name="dvr-group-commit", daemon=True)
        self._thread.start()

    def append(self, envelope: Envelope) -> Stored:
        if not isinstance(envelope, Envelope):
            raise NotEncrypted("the store accepts only parsed envelopes")
        pending = _Pending(envelope)
        self._queue.put(pending)
        if not pending.done.wait(_WAIT_SECONDS):
            raise StorageUnavailable("the store did not commit in time")
        if pending.error is not None:
            raise StorageUnavailable(str(pending.error)) from pending.error
        assert pending.result is not None  # noqa: S101 - set together with done
        return pending.result

    def _commit_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < _MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        day = today()
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = []
            for item in group:
                env = item.envelope
                sha = env.sha256
                row = conn.execute("SELECT seq, received_on FROM envelopes WHERE sha256 = ?", (sha,)).fetchone()
                if row is None:
                    cur = conn.execute(
                        "INSERT INTO envelopes (received_on, kid, envelope, sha256) VALUES (?, ?, ?, ?)",
                        (day, env.kid, env.canonical(), sha),
                    )
                    row = (cur.lastrowid, day)
                results.append(Stored(seq=row[0], envelope_sha256=sha, received_on=row[1]))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for item in group:
                item.error = exc
                item.done.set()
            return
        for item, result in zip(group, results, strict=True):
            item.result = result
            item.done.set()

    def last_seq(self) -> int:
        row = self._read.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()
        return int(row[0])

    def rows_after(self, seq: int) -> Iterator[tuple[int, str, bytes]]:
        cur = self._read.execute(
            "SELECT seq, received_on, envelope FROM envelopes WHERE seq > ? ORDER BY seq", (seq,)
        )
        for row in cur:
            yield int(row[0]), row[1], bytes(row[2])

    def count(self) -> int:
        return int(self._read.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])

    @contextmanager
    def export_lock(self) -> Iterator[sqlite3.Connection]:
        """A connection for recording an export, serialised with other exports."""
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._conn.close()
        self._read.close()
