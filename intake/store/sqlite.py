"""The SQLite envelope store: one database file (WAL, synchronous=FULL)
holding the envelopes, the exports and the transparency log's tables.

Submissions are made durable by group commit: one committer thread takes
every pending envelope, stores it (and, through the log, its tree nodes and
one signed checkpoint) in one transaction and one fsync, then releases each
waiting request with its Stored. No request is answered before its row is
committed (intake/store/group.py, shared with the PostgreSQL store).
docs/performance.md says what each choice here gained.
"""

from __future__ import annotations

import fcntl
import queue
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .base import Log, LogIntegrityError, LogUnavailable, Stored, StoreFailed, today
from .group import WAIT_SECONDS, GroupCommitStore, Outcome, Pending

__all__ = [
    "MAX_ROWS",
    "SQLiteLogStorage",
    "SQLiteStore",
    "connect",
    "insert_rows",
    "nodes_query",
    "select_in",
]

_IDLE_READERS = 16

# -- few statements for many rows ----------------------------------------
# The committer holds the cross-process commit lock while it writes, and
# sqlite3 releases the GIL around every step of a statement: a group writes
# its rows with one multi-row statement per table, not one per row.

MAX_ROWS = 128  # rows per statement: at most 640 parameters, under any SQLite's limit
# Prepared statements a committer connection keeps: one INSERT text per row
# count for each of two tables, and a few IN lists.
STATEMENT_CACHE = 2 * MAX_ROWS + 64


def chunks(count: int) -> Iterator[tuple[int, int]]:
    """Split `count` rows into (start, size) chunks of at most MAX_ROWS."""
    for start in range(0, count, MAX_ROWS):
        yield start, min(MAX_ROWS, count - start)


def insert_rows(conn: sqlite3.Connection, insert: str, width: int, rows: Sequence[Sequence[object]]) -> None:
    """Run `insert` (e.g. "INSERT INTO t (a, b) VALUES") for `rows` of
    `width` values each, up to MAX_ROWS rows per statement."""
    values = "(" + ", ".join("?" * width) + ")"
    for start, size in chunks(len(rows)):
        params = [v for row in rows[start : start + size] for v in row]
        conn.execute(f"{insert} {', '.join([values] * size)}", params)


def select_in(conn: sqlite3.Connection, select: str, keys: Sequence[object]) -> Iterator[Any]:
    """The rows of `select` (ending in "IN") for `keys`, up to MAX_ROWS keys a
    statement. Each list is padded to a power of two with repeats of its last
    key, which IN ignores, so only a few statement texts exist."""
    for start, size in chunks(len(keys)):
        part = list(keys[start : start + size])
        padded = 1 << (size - 1).bit_length()
        part += part[-1:] * (padded - size)
        yield from conn.execute(f"{select} ({', '.join('?' * padded)})", part)


# -- schema and connections ----------------------------------------------

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

# The log's tables (docs/formats.md): every complete subtree by its post-order
# position, so a group's new nodes are appended at the end of the table and
# touch few pages; and the latest signed checkpoint, one row.
_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS tlog_nodes (
    pos INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tlog_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    note TEXT NOT NULL
);
"""


def connect(path: Path, max_pages: int | None = None) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL and synchronous=FULL."""
    conn = sqlite3.connect(
        path,
        timeout=WAIT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=STATEMENT_CACHE,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    # A group's multi-row INSERT keeps a statement journal; past 64 KiB SQLite
    # would spill it to a new temporary file in every commit. It holds only
    # this transaction's pages, never more than a group's.
    conn.execute("PRAGMA temp_store=MEMORY")
    if max_pages is not None:  # tests: a full disk, as SQLite sees it
        conn.execute(f"PRAGMA max_page_count={int(max_pages)}")
    return conn


@contextmanager
def _failures() -> Iterator[None]:
    """sqlite3's errors as the store's StoreFailed, with SQLite's message."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreFailed(str(exc)) from exc


def _log_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=WAIT_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(WAIT_SECONDS * 1000)}")
    return conn


def nodes_query(count: int) -> str:
    """One query for `count` nodes, each a search by primary key, so a
    proof costs O(log n) index lookups however large the log is."""
    return f"SELECT pos, hash FROM tlog_nodes WHERE pos IN ({', '.join('?' * count)})"  # noqa: S608 - placeholders


_NODES_A_QUERY = 400


class _LogTables:
    """The log's tables through one connection: the LogView and
    LogTransaction of intake.store, inside whatever transaction the
    connection has open."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def read_nodes(self, positions: Sequence[int]) -> Mapping[int, bytes]:
        found: dict[int, bytes] = {}
        for start in range(0, len(positions), _NODES_A_QUERY):
            chunk = list(positions[start : start + _NODES_A_QUERY])
            for pos, h in self.conn.execute(nodes_query(len(chunk)), chunk):
                found[int(pos)] = bytes(h)
        return found

    def read_checkpoint(self) -> tuple[int, str] | None:
        row = self.conn.execute("SELECT size, note FROM tlog_checkpoint WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def tree_state(self) -> tuple[int, int]:
        nodes, stored = self.conn.execute(
            "SELECT (SELECT COALESCE(MAX(pos) + 1, 0) FROM tlog_nodes), (SELECT COALESCE(MAX(seq), 0) FROM envelopes)"
        ).fetchone()
        return int(nodes), int(stored)

    def envelopes_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        rows = self.conn.execute(
            "SELECT seq, envelope FROM envelopes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(int(s), bytes(e)) for s, e in rows]

    def write_nodes(self, rows: Sequence[tuple[int, bytes]]) -> None:
        insert_rows(self.conn, "INSERT INTO tlog_nodes (pos, hash) VALUES", 2, rows)

    def claim_key(self, verifier: str) -> None:
        return None  # one process owns the file; its log key may be replaced (docs/transparency.md)

    def write_checkpoint(self, size: int, note: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO tlog_checkpoint (id, size, note) VALUES (1, ?, ?)", (size, note))


class SQLiteLogStorage:
    """The log's tables in the intake's SQLite file, for the log's readers
    (a pool of connections) and for its own sync transaction.

    A pool rather than thread-local connections: under the gevent worker
    every client is a greenlet of one thread, and a greenlet-local
    connection would be opened per client. A database error while reading
    is LogUnavailable."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = _log_connection(self.db_path)
        try:
            yield conn
        finally:
            if conn.in_transaction or self._idle.qsize() >= _IDLE_READERS:
                conn.close()  # an error left it mid-transaction, or enough are idle
            else:
                self._idle.put(conn)

    @contextmanager
    def reading(self) -> Iterator[_LogTables]:
        try:
            with self._connection() as conn:
                yield _LogTables(conn)
        except sqlite3.Error as exc:
            raise LogUnavailable(str(exc)) from exc

    @contextmanager
    def snapshot(self) -> Iterator[_LogTables]:
        try:
            with self._connection() as conn:
                conn.execute("BEGIN")
                try:
                    yield _LogTables(conn)
                finally:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LogUnavailable(str(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[_LogTables]:
        """Create the log's tables (the store's must exist already), then one
        write transaction. A database error is StoreFailed."""
        with _failures():
            conn = _log_connection(self.db_path)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_LOG_SCHEMA)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _LogTables(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# -- the store -------------------------------------------------------------


def _existing(conn: sqlite3.Connection, shas: Sequence[str]) -> dict[str, tuple[int, str]]:
    """seq and day of the envelopes among `shas` that are stored already."""
    rows = select_in(conn, "SELECT sha256, seq, received_on FROM envelopes WHERE sha256 IN", shas)
    return {str(sha): (int(seq), str(day)) for sha, seq, day in rows}


class SQLiteStore(GroupCommitStore):
    """EnvelopeStore in one SQLite file, with group commit (intake/store/group.py);
    `log`, if given, is written in the same transactions."""

    def __init__(
        self,
        path: Path,
        *,
        log: Log | None = None,
        max_pages: int | None = None,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.path = path
        self.log = log
        with _failures():
            self._conn = connect(path, max_pages)
            self._conn.executescript(_SCHEMA)
            if log is not None:
                self._conn.executescript(_LOG_SCHEMA)
            self._queries = connect(path)  # everything but the group commits: reads, recording an export
        # Committers of several server processes queue on this lock in the
        # kernel instead of polling SQLite's busy handler, which sleeps for
        # milliseconds at a time and would stall every group behind it.
        self._commit_lock = open(path.with_name(path.name + ".commit-lock"), "a+b")  # noqa: SIM115 - held for the store's life
        self._start_committer(wait_seconds)

    def _take_turn_and_commit(self) -> tuple[list[Pending], Outcome]:
        """Wait for the other processes' committers, then take the group, so
        it holds everything that arrived during the wait, and commit it.
        Runs where it may block: see `_offloader`."""
        fcntl.flock(self._commit_lock, fcntl.LOCK_EX)
        try:
            group = self._take_group()
            return group, self._commit(group)
        finally:
            fcntl.flock(self._commit_lock, fcntl.LOCK_UN)

    def _commit(self, group: list[Pending]) -> Outcome:
        """Store `group` in one transaction and one fsync (the caller holds the
        commit lock); return each envelope's Stored by sha256, or the error
        that left nothing stored. A fixed handful of statements per group:
        look up repeats, insert the new rows, the log's nodes and checkpoint."""
        day = today()
        conn = self._conn
        log = self.log
        txn = _LogTables(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            if log is not None:
                last = log.begin(txn)
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
            size, note = log.seal(txn) if log is not None else (0, "")  # one signed checkpoint per group
            conn.execute("COMMIT")
        except (sqlite3.Error, LogIntegrityError) as exc:
            if log is not None:
                log.abort()
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return exc
        if log is not None:
            log.committed()
        return {sha: Stored(seq, sha, received_on, size, note) for sha, (seq, received_on) in known.items()}

    def last_seq(self) -> int:
        with _failures():
            row = self._queries.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()
        return int(row[0])

    def rows_after(self, seq: int) -> Iterator[tuple[int, str, bytes]]:
        with _failures():
            cur = self._queries.execute(
                "SELECT seq, received_on, envelope FROM envelopes WHERE seq > ? ORDER BY seq", (seq,)
            )
            for row in cur:
                yield int(row[0]), str(row[1]), bytes(row[2])

    def rows_between(self, first: int, last: int) -> Iterator[tuple[int, str, bytes]]:
        with _failures():
            cur = self._queries.execute(
                "SELECT seq, received_on, envelope FROM envelopes WHERE seq >= ? AND seq <= ? ORDER BY seq",
                (first, last),
            )
            for row in cur:
                yield int(row[0]), str(row[1]), bytes(row[2])

    def count(self) -> int:
        with _failures():
            return int(self._queries.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])

    def exported_through(self) -> int:
        with _failures():
            return int(self._queries.execute("SELECT COALESCE(MAX(last_seq), 0) FROM exports").fetchone()[0])

    def record_export(self, first_seq: int, last_seq: int, sha256: str, exported_on: str) -> None:
        with _failures():
            self._queries.execute(
                "INSERT INTO exports (first_seq, last_seq, sha256, exported_on) VALUES (?, ?, ?, ?)",
                (first_seq, last_seq, sha256, exported_on),
            )

    def close(self) -> None:
        self._stop_committer()
        self._conn.close()
        self._queries.close()
        self._commit_lock.close()
