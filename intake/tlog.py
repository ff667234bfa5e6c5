"""The intake's transparency log: every stored envelope is a leaf of an
RFC 6962 Merkle tree (leaf index = seq - 1), and the intake signs a
checkpoint (c2sp.org/tlog-checkpoint) of each tree size it commits.

This module is the log's logic only: the tree, its nodes' positions, the
checkpoint's signature, the proofs. It stores nothing itself. The store
calls it inside the transaction that stores a group of envelopes, through
intake.store's LogTransaction (read the tree's size and nodes, write new
nodes and the checkpoint), so the tree, its checkpoint and the envelopes
can never disagree after a crash; requests read proofs through a
LogStorage. Which tables hold it is the store's business (docs/formats.md,
intake/store/sqlite.py). Roots and proofs read O(log n) node hashes.

The log's Ed25519 key is a signed-note signer key in `DATA/log-key`
(mode 0600). It is the intake's own key: it proves what the intake
accepted and opens nothing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from vault import InvalidSignature
from vault.transparency import (
    Checkpoint,
    CompactRange,
    InvalidNote,
    NodeId,
    NodeReader,
    NoteSigner,
    NoteVerifier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    open_checkpoint,
    sign_checkpoint,
)

from .config import IntakeConfig
from .files import fsync_dir
from .store import LogIntegrityError, LogStorage, LogTransaction, LogView, open_log_storage

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
_RECENT_GROUPS = 8
_CATCH_UP = 1000  # envelopes read at a time when logging those stored before the log


class LogNotReady(ValueError):
    """The data directory has no usable log key, or the log no checkpoint."""


class BeyondTree(ValueError):
    """A proof was asked for a tree size the log has not reached."""


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
    return TransparencyLog(open_log_storage(config), signer)


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


def node_reader(view: LogView) -> NodeReader:
    """Read complete-subtree hashes through `view`, by their positions."""

    def read(ids: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        by_pos = {node_pos(node): node for node in ids}
        return {by_pos[pos]: h for pos, h in view.read_nodes(list(by_pos)).items()}

    return read


class TransparencyLog:
    """The log over one intake's storage.

    Writer side (intake.store.Log: `begin`, `append_leaf`, `seal`,
    `committed`, `abort`): called by the store's committer inside its
    transaction. Reader side (`latest`, proofs): any request, through
    `storage`.
    """

    def __init__(self, storage: LogStorage, signer: NoteSigner) -> None:
        self.storage = storage
        self._signer = signer
        self.verifier: NoteVerifier = signer.verifier()
        self._frontier: CompactRange | None = None
        self._begin_size = -1
        self._new_nodes: list[tuple[int, bytes]] = []  # node rows of the open transaction
        self._group: dict[NodeId, bytes] = {}  # the frontier at its start and the nodes it finished
        self._pending: tuple[int, int, dict[NodeId, bytes]] | None = None
        self._key_claimed = False  # the storage has accepted this log's key (LogTransaction.claim_key)
        self._claiming = False
        # size -> (first leaf, nodes, their base64 text once a receipt needed it)
        self._recent: dict[int, tuple[int, dict[NodeId, bytes], dict[bytes, str]]] = {}

    @property
    def origin(self) -> str:
        return self._signer.name

    # -- writer side ---------------------------------------------------

    @staticmethod
    def leaf(canonical: bytes) -> bytes:
        """The leaf hash of a canonical envelope (RFC 6962)."""
        return leaf_hash(canonical)

    def begin(self, txn: LogTransaction) -> int:
        """Bring the in-memory frontier up to the stored tree (another process
        may have appended), and log any envelope stored without a leaf.
        Returns the store's highest seq, read with the tree's size."""
        if not self._key_claimed:
            txn.claim_key(self.verifier.encode())
            self._claiming = True
        try:
            nodes, stored = txn.tree_state()
            size = size_for_nodes(nodes)
            if self._frontier is None or self._frontier.size != size:
                self._frontier = CompactRange.load(size, node_reader(txn))
            self._group = dict(self._frontier.nodes())
        except (LookupError, ValueError) as exc:
            self._frontier = None
            raise LogIntegrityError(f"the log's stored tree is damaged: {exc}") from None
        self._begin_size = size
        self._new_nodes = []
        if stored < size:
            self._frontier = None
            raise LogIntegrityError(f"the log has {size} leaves but the store only {stored} envelopes")
        while stored > self._frontier.size:  # envelopes stored before the log existed
            for seq, envelope in txn.envelopes_after(self._frontier.size, _CATCH_UP):
                self.append_leaf(seq, leaf_hash(envelope))
            self._flush(txn)
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
            self._new_nodes.append((node_pos(node), h))
            self._group[node] = h

    def _flush(self, txn: LogTransaction) -> None:
        """Write the nodes appended so far."""
        txn.write_nodes(self._new_nodes)
        self._new_nodes = []

    def seal(self, txn: LogTransaction) -> tuple[int, str]:
        """The signed checkpoint of the tree as it will be committed: reuse the
        stored one if the size did not change, else sign and store it."""
        frontier = self._frontier
        if frontier is None:
            raise LogIntegrityError("seal outside a log transaction")
        self._flush(txn)
        if frontier.size == self._begin_size:  # nothing new: reuse the stored checkpoint
            stored = txn.read_checkpoint()
            if stored is not None and stored[0] == frontier.size and self._signed_by_us(stored[1]):
                return stored
        note = sign_checkpoint(Checkpoint(self.origin, frontier.size, frontier.root()), self._signer)
        txn.write_checkpoint(frontier.size, note)
        self._pending = (frontier.size, self._begin_size, self._group)
        return frontier.size, note

    def committed(self) -> None:
        """The group's transaction committed: keep its nodes in memory for a
        moment, so its receipts' proofs need no database read. The frontier
        before the group plus the subtrees the group finished hold every
        node of the audit path of any leaf the group added."""
        if self._claiming:
            self._key_claimed, self._claiming = True, False
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
        self._new_nodes = []
        self._pending = None
        self._claiming = False

    def sync(self) -> tuple[int, str]:
        """Log any envelope without a leaf and make sure the current tree size
        has a signed checkpoint, in a transaction of the log's own; return
        it. The store's tables must exist already."""
        try:
            with self.storage.transaction() as txn:
                self.begin(txn)
                result = self.seal(txn)
        except BaseException:
            self.abort()
            raise
        self.committed()
        return result

    # -- reader side ---------------------------------------------------

    def latest(self) -> tuple[int, str]:
        """The size and signed note of the newest checkpoint."""
        with self.storage.reading() as view:
            stored = view.read_checkpoint()
        if stored is None:
            raise LogNotReady("the log has no checkpoint yet")
        return stored

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf `index` in the tree of `size` leaves."""
        with self.storage.snapshot() as view:
            self._check_size(view, size)
            return inclusion_proof(index, size, node_reader(view))

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
        with self.storage.reading() as view:
            proof = inclusion_proof(index, size, node_reader(view))
        return {"leaf_index": index, "checkpoint": checkpoint, "inclusion_proof": [b64(h) for h in proof]}

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof that the tree of `first` leaves is a prefix of `second`'s."""
        with self.storage.snapshot() as view:
            self._check_size(view, second)
            return consistency_proof(first, second, node_reader(view))

    @staticmethod
    def _check_size(view: LogView, size: int) -> None:
        stored = view.read_checkpoint()
        current = stored[0] if stored else 0
        if size > current:
            raise BeyondTree(f"the log has {current} entries; there is no tree of size {size} yet")

    def close(self) -> None:
        self.storage.close()
