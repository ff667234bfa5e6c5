"""The ciphertext store: envelopes, their seq and the day they arrived.

`EnvelopeStore` is the interface; `SQLiteStore` is the embedded default
(WAL, synchronous=FULL). Submissions are made durable by group commit: a
single committer thread takes every pending envelope, inserts them in one
transaction and commits once (one fsync), then releases each waiting
request with its seq. No request is answered before its row is committed.
A watchdog answers with an error any request the committer has kept
waiting too long (a stalled disk, another process holding the commit turn).
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vault import Envelope
from vault.merkle import leaf_hash

from .sqlbatch import STATEMENT_CACHE, insert_rows, select_in

if TYPE_CHECKING:
    from .tlog import TransparencyLog

__all__ = [
    "CommitUnconfirmed",
    "EnvelopeStore",
    "NotEncrypted",
    "SQLiteStore",
    "StorageUnavailable",
    "Stored",
    "today",
]

_MAX_GROUP = 1024
_WAIT_SECONDS = 30.0


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _offloader() -> Callable[..., Any]:
    """How the committer runs a call that blocks (waiting for the other
    processes' commit turn, the fsync): directly in its own thread, or,
    under gevent (the production worker, intake/gunicorn_conf.py), in the
    hub's pool of native threads, so the event loop serving every other
    request never stalls on the disk."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent  # noqa: PLC0415 - only ever imported by gevent's worker

        pool = gevent.get_hub().threadpool
        return lambda fn, *args: pool.apply(fn, args)
    return _call


class NotEncrypted(TypeError):
    """Raised before anything is written when asked to store something that
    is not a parsed, well-formed envelope."""


class StorageUnavailable(Exception):
    """The store could not make the envelope durable; nothing was stored."""


class CommitUnconfirmed(StorageUnavailable):
    """The envelope's group was still being committed when the wait ran out:
    it may be stored. Sending it again is safe (the store recognises a
    repeat and answers with its seq)."""


@dataclass(frozen=True)
class Stored:
    seq: int
    envelope_sha256: str
    received_on: str
    # The transparency log's signed checkpoint committed with this envelope
    # (a tree that includes it); empty when the store runs without a log.
    log_size: int = 0
    checkpoint: str = ""


def today() -> str:
    """The UTC day: the only arrival information the intake keeps."""
    return datetime.now(UTC).date().isoformat()


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


def connect(path: Path, max_pages: int | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=_WAIT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=STATEMENT_CACHE,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    # A group's multi-row INSERT keeps a statement journal (to undo just that
    # statement); past 64 KiB SQLite spills it to a new temporary file in
    # /var/tmp: an open, writes and an unlink in nearly every commit. It
    # holds only pages of this transaction, never more than a group's.
    conn.execute("PRAGMA temp_store=MEMORY")
    if max_pages is not None:  # tests: a full disk, as SQLite sees it
        conn.execute(f"PRAGMA max_page_count={int(max_pages)}")
    return conn


class _Pending:
    """One submission waiting for its group commit. `done` is set once the
    committer (or, after too long a wait, the watchdog) has set `result` or
    `error`. An Event, because under the
    production gevent worker it is gevent's compiled Event, while a Lock is a
    Python-level wrapper there (measured side by side: POST 2-3% faster)."""

    __slots__ = ("canonical", "done", "envelope", "error", "leaf", "result", "sha256", "since")

    def __init__(self, envelope: Envelope, *, with_leaf: bool) -> None:
        self.since = time.monotonic()
        self.envelope = envelope
        # Hashed here, in the request thread, so the committer's critical
        # section (which holds the cross-process commit lock) stays short.
        self.canonical = envelope.canonical()
        self.sha256 = hashlib.sha256(self.canonical).hexdigest()
        self.leaf = leaf_hash(self.canonical) if with_leaf else b""
        self.done = threading.Event()
        self.result: Stored | None = None
        self.error: BaseException | None = None


def _existing(conn: sqlite3.Connection, shas: Sequence[str]) -> dict[str, tuple[int, str]]:
    """seq and day of the envelopes among `shas` that are stored already."""
    rows = select_in(conn, "SELECT sha256, seq, received_on FROM envelopes WHERE sha256 IN", shas)
    return {str(sha): (int(seq), str(day)) for sha, seq, day in rows}


class SQLiteStore:
    """SQLite implementation of EnvelopeStore, with group commit."""

    def __init__(
        self,
        path: Path,
        *,
        log: TransparencyLog | None = None,
        max_pages: int | None = None,
        wait_seconds: float = _WAIT_SECONDS,
    ) -> None:
        self.path = path
        self.log = log
        self._conn = connect(path, max_pages)
        self._conn.executescript(_SCHEMA)
        if log is not None:
            log.create_tables(self._conn)
        self._read = connect(path)
        # Committers of several server processes queue on this lock in the
        # kernel instead of polling SQLite's busy handler, which sleeps for
        # milliseconds at a time and would stall every group behind it.
        self._commit_lock = open(path.with_name(path.name + ".commit-lock"), "a+b")  # noqa: SIM115 - held for the store's life
        # Submissions waiting for a group: appended by request threads (or
        # greenlets), taken by the committer; deque appends and pops are atomic.
        self._pending: collections.deque[_Pending] = collections.deque()
        self._wakeup = threading.Event()
        self._closing = False
        self._inflight: list[_Pending] = []  # the group being committed
        self._wait_seconds = wait_seconds
        self._stop_watch = threading.Event()
        self._thread = threading.Thread(target=self._commit_loop, name="dvr-group-commit", daemon=True)
        self._thread.start()
        self._watchdog = threading.Thread(target=self._watch, name="dvr-commit-watchdog", daemon=True)
        self._watchdog.start()

    def append(self, envelope: Envelope) -> Stored:
        if not isinstance(envelope, Envelope):
            raise NotEncrypted("the store accepts only parsed envelopes")
        pending = _Pending(envelope, with_leaf=self.log is not None)
        self._pending.append(pending)
        self._wakeup.set()
        # No timeout of its own: under gevent a timed wait starts and stops a
        # timer per request (about 3 of the 16 us a wait and wake-up cost in
        # a microbenchmark). The committer or the watchdog sets it.
        pending.done.wait()
        if isinstance(pending.error, StorageUnavailable):
            raise pending.error
        if pending.error is not None:
            raise StorageUnavailable(str(pending.error)) from pending.error
        assert pending.result is not None  # noqa: S101 - set before done is
        return pending.result

    def _commit_loop(self) -> None:
        offload = _offloader()
        while True:
            self._wakeup.wait()
            self._wakeup.clear()  # before taking the group: a later append wakes the next round
            if not self._pending:
                if self._closing:
                    return
                continue
            group, outcome = offload(self._take_turn_and_commit)
            self._inflight = []
            # Release the requests only now, with the lock free for the others.
            for item in group:
                if isinstance(outcome, sqlite3.Error):
                    item.error = outcome
                else:
                    item.result = outcome[item.sha256]
                item.done.set()

    def _take_turn_and_commit(self) -> tuple[list[_Pending], dict[str, Stored] | sqlite3.Error]:
        """Wait for the other processes' committers, then take the group, so
        it holds everything that arrived during the wait (their commits take
        the shared fsync turns, and each turn should make as many of our
        submissions durable as it can), and commit it. Runs where it may
        block: see `_offloader`."""
        fcntl.flock(self._commit_lock, fcntl.LOCK_EX)
        try:
            group: list[_Pending] = []
            while self._pending and len(group) < _MAX_GROUP:
                try:
                    group.append(self._pending.popleft())
                except IndexError:  # the watchdog withdrew the last one
                    break
            self._inflight = group
            return group, self._commit(group)
        finally:
            fcntl.flock(self._commit_lock, fcntl.LOCK_UN)

    def _commit(self, group: list[_Pending]) -> dict[str, Stored] | sqlite3.Error:
        """Store `group` in one transaction and one fsync (the caller holds the
        commit lock); return each envelope's Stored by sha256, or the error
        that left nothing stored. A group takes a fixed handful of statements
        (look up repeats, insert the new rows, their log nodes, the
        checkpoint), not a few per envelope."""
        day = today()
        conn = self._conn
        log = self.log
        try:
            conn.execute("BEGIN IMMEDIATE")
            if log is not None:
                last = log.begin(conn)
            else:
                last = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0])
            # seq and day per sha256: envelopes stored before, then this group's new ones in order
            known = _existing(conn, [item.sha256 for item in group])
            rows: list[tuple[int, str, str, bytes, str]] = []
            for item in group:
                if item.sha256 not in known:
                    last += 1  # the rowid SQLite would choose, made explicit: the table's write lock is ours
                    known[item.sha256] = (last, day)
                    rows.append((last, day, item.envelope.kid, item.canonical, item.sha256))
                    if log is not None:
                        log.append_leaf(last, item.leaf)
            insert_rows(conn, "INSERT INTO envelopes (seq, received_on, kid, envelope, sha256) VALUES", 5, rows)
            size, note = log.seal(conn) if log is not None else (0, "")  # one signed checkpoint per group
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if log is not None:
                log.abort()
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return exc
        if log is not None:
            log.committed()
        return {sha: Stored(seq, sha, received_on, size, note) for sha, (seq, received_on) in known.items()}

    def _watch(self) -> None:
        """Once a second, answer every submission that has waited longer than
        the limit with an error. One still queued is withdrawn first, so it
        is never stored ("nothing was kept" stays true); one whose group is
        being committed may yet be stored, and is told so."""
        while not self._stop_watch.wait(1.0):
            limit = time.monotonic() - self._wait_seconds
            late: list[tuple[_Pending, StorageUnavailable]] = []
            while self._pending and self._pending[0].since < limit:
                try:
                    item = self._pending.popleft()
                except IndexError:  # the committer took it meanwhile
                    break
                if item.since >= limit:  # the committer took the late one meanwhile: put this one back
                    self._pending.appendleft(item)
                    break
                late.append((item, StorageUnavailable("the store did not commit in time; nothing was kept")))
            late += [
                (item, CommitUnconfirmed("the store did not confirm the commit in time; it may be stored"))
                for item in self._inflight
                if item.since < limit
            ]
            for item, error in late:
                if not item.done.is_set():
                    item.error = error
                    item.done.set()

    def last_seq(self) -> int:
        row = self._read.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()
        return int(row[0])

    def rows_after(self, seq: int) -> Iterator[tuple[int, str, bytes]]:
        cur = self._read.execute("SELECT seq, received_on, envelope FROM envelopes WHERE seq > ? ORDER BY seq", (seq,))
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
        self._closing = True
        self._wakeup.set()
        self._stop_watch.set()
        self._thread.join(timeout=5)
        self._watchdog.join(timeout=5)
        self._conn.close()
        self._read.close()
        self._commit_lock.close()
