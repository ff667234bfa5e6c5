"""The intake's transparency log: every stored envelope is a leaf of an
RFC 6962 Merkle tree (leaf index = seq - 1), and the intake signs a
checkpoint (c2sp.org/tlog-checkpoint) of each tree size it commits.

Storage, in the intake's SQLite database (docs/formats.md):

    tlog_nodes(pos, hash)          every complete subtree, keyed by its post-order
                                   position: a leaf's nodes are appended at the end
                                   of the table, so a group commit writes few pages
    tlog_checkpoint(size, note)    the latest signed checkpoint (one row)

Both are written in the group commit's transaction, together with the
envelopes, so the tree, its checkpoint and the store can never disagree
after a crash. Roots and proofs read O(log n) node hashes per request.

The log's Ed25519 key is a signed-note signer key in `DATA/log-key`
(mode 0600). It is the intake's own key: it proves what the intake
accepted and opens nothing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import secrets
import sqlite3
import tempfile
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vault import InvalidSignature
from vault.fsutil import fsync_dir
from vault.merkle import CompactRange, NodeId, NodeReader, consistency_proof, inclusion_proof, leaf_hash
from vault.note import Checkpoint, InvalidNote, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint

from .config import IntakeConfig
from .sqlbatch import insert_rows

__all__ = [
    "LOG_KEY_FILE",
    "BeyondTree",
    "LogIntegrityError",
    "LogNotReady",
    "TransparencyLog",
    "ensure_log_key",
    "load_log_key",
    "open_log",
]

LOG_KEY_FILE = "log-key"
ORIGIN_PREFIX = "dvr-intake/"
_WAIT_SECONDS = 30.0
_CHUNK = 400
_RECENT_GROUPS = 8
_IDLE_READERS = 16

_SCHEMA = """
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


class LogNotReady(ValueError):
    """The data directory has no usable log key, or the log no checkpoint."""


class BeyondTree(ValueError):
    """A proof was asked for a tree size the log has not reached."""


class LogIntegrityError(sqlite3.IntegrityError):
    """The log and the envelope store disagree; the transaction is rolled back.

    A subclass of sqlite3.IntegrityError so the store's commit treats it as
    any other database failure: nothing is stored and the request gets 503.
    """


def b64(data: bytes) -> str:
    """Standard base64 with padding: how the log writes hashes, like checkpoints do."""
    return base64.b64encode(data).decode("ascii")


def _key_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_KEY_FILE


def load_log_key(data_dir: Path) -> NoteSigner:
    """The intake's log signer from `DATA/log-key`."""
    path = _key_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LogNotReady(f"{data_dir} has no log key; run `intake log init --data {data_dir}`") from None
    try:
        return NoteSigner.parse(text)
    except InvalidNote as exc:
        raise LogNotReady(f"{path} is not a log signer key: {exc}") from None


def ensure_log_key(data_dir: Path, origin: str | None = None) -> tuple[NoteSigner, bool]:
    """Load the log key, or make it (mode 0600) if there is none yet.

    Returns the signer and whether it was made now. Safe when several
    processes start at once: the key appears atomically and only once.
    """
    data_dir = Path(data_dir)
    path = _key_path(data_dir)
    if path.exists():
        signer = load_log_key(data_dir)
        if origin is not None and origin != signer.name:
            raise LogNotReady(f"the log already exists with origin {signer.name}; its origin cannot change")
        return signer, False
    data_dir.mkdir(parents=True, exist_ok=True)
    signer = NoteSigner.generate(origin or ORIGIN_PREFIX + secrets.token_hex(8))
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{LOG_KEY_FILE}.", suffix=".partial")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(signer.encode() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_log_key(data_dir), False
    finally:
        os.unlink(tmp)
    fsync_dir(data_dir)
    return signer, True


def open_log(config: IntakeConfig) -> TransparencyLog:
    """The log of the intake in `config`, making its key on first use."""
    signer, _made = ensure_log_key(config.data_dir)
    return TransparencyLog(config.db_path, signer)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_WAIT_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(_WAIT_SECONDS * 1000)}")
    return conn


def node_pos(node: NodeId) -> int:
    """Post-order position of the complete subtree (level, idx): the number
    of complete subtrees finished before it while appending leaves."""
    level, idx = node
    start = idx << level
    return 2 * start - start.bit_count() + (2 << level) - 2


def size_for_nodes(count: int) -> int:
    """The number of leaves of a tree whose complete subtrees number `count`
    (2n - popcount(n)); ValueError if no tree has that many."""
    size = (count + 1) // 2
    while 2 * size - size.bit_count() < count:
        size += 1
    if 2 * size - size.bit_count() != count:
        raise ValueError(f"no tree has {count} complete subtrees")
    return size


def nodes_query(count: int) -> str:
    """One query for `count` nodes, each a search by primary key, so a
    proof costs O(log n) index lookups however large the log is."""
    return f"SELECT pos, hash FROM tlog_nodes WHERE pos IN ({', '.join('?' * count)})"  # noqa: S608 - placeholders


def node_reader(conn: sqlite3.Connection) -> NodeReader:
    """Read complete-subtree hashes from `tlog_nodes` with `conn`."""

    def read(ids: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        by_pos = {node_pos(node): node for node in ids}
        wanted = list(by_pos)
        found: dict[NodeId, bytes] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for pos, h in conn.execute(nodes_query(len(chunk)), chunk):
                found[by_pos[int(pos)]] = bytes(h)
        return found

    return read


class TransparencyLog:
    """The log over one intake database.

    Writer side (`begin`, `append_leaf`, `seal`, `abort`): called by the store's
    group committer inside its transaction, on its connection. Reader side
    (`latest`, proofs): any request thread, each on its own connection.
    """

    def __init__(self, db_path: Path, signer: NoteSigner) -> None:
        self.db_path = Path(db_path)
        self._signer = signer
        self.verifier: NoteVerifier = signer.verifier()
        self._frontier: CompactRange | None = None
        self._begin_size = -1
        self._rows: list[tuple[int, bytes]] = []  # node rows of the open transaction
        self._group: dict[NodeId, bytes] = {}  # the frontier at its start and the nodes it finished
        self._pending: tuple[int, int, dict[NodeId, bytes]] | None = None
        # size -> (first leaf, nodes, their base64 text once a receipt needed it)
        self._recent: dict[int, tuple[int, dict[NodeId, bytes], dict[bytes, str]]] = {}
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    @property
    def origin(self) -> str:
        return self._signer.name

    # -- writer side ---------------------------------------------------

    @staticmethod
    def create_tables(conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    def begin(self, conn: sqlite3.Connection) -> int:
        """Bring the in-memory frontier up to the stored tree (another process
        may have appended), and log any envelope stored without a leaf.
        Returns the store's highest seq, read in the same statement."""
        try:
            nodes, stored = conn.execute(
                "SELECT (SELECT COALESCE(MAX(pos) + 1, 0) FROM tlog_nodes),"
                " (SELECT COALESCE(MAX(seq), 0) FROM envelopes)"
            ).fetchone()
            size = size_for_nodes(int(nodes))
            stored = int(stored)
            if self._frontier is None or self._frontier.size != size:
                self._frontier = CompactRange.load(size, node_reader(conn))
            self._group = dict(self._frontier.nodes())
        except (LookupError, ValueError) as exc:
            self._frontier = None
            raise LogIntegrityError(f"the log's stored tree is damaged: {exc}") from None
        self._begin_size = size
        self._rows = []
        if stored < size:
            self._frontier = None
            raise LogIntegrityError(f"the log has {size} leaves but the store only {stored} envelopes")
        while stored > self._frontier.size:  # envelopes stored before the log existed
            rows = conn.execute(
                "SELECT seq, envelope FROM envelopes WHERE seq > ? ORDER BY seq LIMIT 1000", (self._frontier.size,)
            ).fetchall()
            for seq, envelope in rows:
                self.append_leaf(int(seq), leaf_hash(bytes(envelope)))
            self._flush(conn)
        return stored

    def append_leaf(self, seq: int, leaf: bytes) -> None:
        """Add `leaf`, the leaf hash of the envelope stored as `seq`, as leaf
        seq - 1; its nodes are written by the next `seal`."""
        frontier = self._frontier
        if frontier is None:
            raise LogIntegrityError("append outside a log transaction")
        if seq != frontier.size + 1:
            self._frontier = None
            raise LogIntegrityError(f"envelope seq {seq} does not follow the log's {frontier.size} leaves")
        for node, h in frontier.append(leaf):
            self._rows.append((node_pos(node), h))
            self._group[node] = h

    def _flush(self, conn: sqlite3.Connection) -> None:
        """Write the node rows appended so far, a few statements per group."""
        insert_rows(conn, "INSERT INTO tlog_nodes (pos, hash) VALUES", 2, self._rows)
        self._rows = []

    def seal(self, conn: sqlite3.Connection) -> tuple[int, str]:
        """The signed checkpoint of the tree as it will be committed: reuse the
        stored one if the size did not change, else sign and store it."""
        frontier = self._frontier
        if frontier is None:
            raise LogIntegrityError("seal outside a log transaction")
        self._flush(conn)
        if frontier.size == self._begin_size:  # nothing new: reuse the stored checkpoint
            row = conn.execute("SELECT size, note FROM tlog_checkpoint WHERE id = 1").fetchone()
            if row is not None and int(row[0]) == frontier.size and self._signed_by_us(str(row[1])):
                return frontier.size, str(row[1])
        note = sign_checkpoint(Checkpoint(self.origin, frontier.size, frontier.root()), self._signer)
        conn.execute("INSERT OR REPLACE INTO tlog_checkpoint (id, size, note) VALUES (1, ?, ?)", (frontier.size, note))
        self._pending = (frontier.size, self._begin_size, self._group)
        return frontier.size, note

    def committed(self) -> None:
        """The group's transaction committed: keep its nodes in memory for a
        moment, so its receipts' proofs need no database read. The frontier
        before the group plus the subtrees the group finished hold every
        node of the audit path of any leaf the group added."""
        if self._pending is not None:
            size, start, nodes = self._pending
            self._recent[size] = (start, nodes, {})
            while len(self._recent) > _RECENT_GROUPS:
                del self._recent[next(iter(self._recent))]
            self._pending = None

    def _signed_by_us(self, note: str) -> bool:
        """False for a checkpoint signed before the log key was replaced."""
        try:
            open_checkpoint(note, self.verifier)
        except (InvalidNote, InvalidSignature):
            return False
        return True

    def abort(self) -> None:
        """The transaction rolled back: forget the frontier, reload it next time."""
        self._frontier = None
        self._rows = []
        self._pending = None

    def sync(self) -> tuple[int, str]:
        """Create the log's tables, log any envelope without a leaf and make
        sure the current tree size has a signed checkpoint; return it. The
        store's own tables must exist already."""
        conn = _connect(self.db_path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self.create_tables(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                self.begin(conn)
                result = self.seal(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self.abort()
                raise
            return result
        finally:
            conn.close()

    # -- reader side ---------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A reader connection for one request: an idle one, or a new one,
        given back afterwards. A pool rather than thread-local connections,
        because under the gevent worker every client is a greenlet of one
        thread, and a greenlet-local connection would be opened per client."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = _connect(self.db_path)
        try:
            yield conn
        finally:
            if conn.in_transaction or self._idle.qsize() >= _IDLE_READERS:
                conn.close()  # an error left it mid-transaction, or enough are idle
            else:
                self._idle.put(conn)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        with self._reading() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def latest(self) -> tuple[int, str]:
        """The size and signed note of the newest checkpoint."""
        with self._reading() as conn:
            row = conn.execute("SELECT size, note FROM tlog_checkpoint WHERE id = 1").fetchone()
        if row is None:
            raise LogNotReady("the log has no checkpoint yet")
        return int(row[0]), str(row[1])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf `index` in the tree of `size` leaves."""
        with self._snapshot() as conn:
            self._check_size(conn, size)
            return inclusion_proof(index, size, node_reader(conn))

    def receipt_members(self, seq: int, size: int, checkpoint: str) -> dict[str, Any]:
        """What a receipt adds for the log: the leaf index, the signed
        checkpoint of a tree that holds the leaf, and the leaf's audit path
        to that checkpoint's root (standard base64, as in the checkpoint)."""
        index = seq - 1
        recent = self._recent.get(size)
        if recent is not None and index >= recent[0]:
            _first, nodes, texts = recent
            with contextlib.suppress(LookupError):  # cannot happen (test_merkle); the database can tell
                proof = inclusion_proof(index, size, lambda _ids: nodes)
                # The receipts of one group share most of their audit paths:
                # each shared node is written in base64 once.
                path = [texts.get(h) or texts.setdefault(h, b64(h)) for h in proof]
                return {"leaf_index": index, "checkpoint": checkpoint, "inclusion_proof": path}
        # an envelope sent again, or an older group: `size` is committed, its nodes are stored
        with self._reading() as conn:
            proof = inclusion_proof(index, size, node_reader(conn))
        return {"leaf_index": index, "checkpoint": checkpoint, "inclusion_proof": [b64(h) for h in proof]}

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self._snapshot() as conn:
            self._check_size(conn, second)
            return consistency_proof(first, second, node_reader(conn))

    @staticmethod
    def _check_size(conn: sqlite3.Connection, size: int) -> None:
        row = conn.execute("SELECT size FROM tlog_checkpoint WHERE id = 1").fetchone()
        current = int(row[0]) if row else 0
        if size > current:
            raise BeyondTree(f"the log has {current} entries; there is no tree of size {size} yet")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
