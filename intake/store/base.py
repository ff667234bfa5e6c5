"""The envelope store's interface: what the intake asks of any store.

A store keeps each envelope once, numbered by `seq`, with only the UTC day
it arrived. `append` answers only once the envelope is durable; sending the
same envelope again gets the original receipt. Exports read rows by seq and
record which seqs a batch covered.

The transparency log (intake/tlog.py) keeps no storage of its own: a store
given a `Log` calls it inside the very transaction that stores a group of
envelopes, through a `LogTransaction` over that transaction, so the tree's
nodes, its checkpoint and the envelopes commit together or not at all, and
no 201 is sent before all three are durable (docs/transparency.md).
`LogStorage` is the same storage seen from the log's side: reads for
proofs, and a transaction of its own for `sync`.

`intake/store/sqlite.py` (one SQLite file, WAL) and
`intake/store/postgres.py` (one PostgreSQL database, shared by several
intake processes) implement it; both commit in groups (group.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vault import Envelope


__all__ = [
    "CommitUnconfirmed",
    "EnvelopeStore",
    "Log",
    "LogIntegrityError",
    "LogStorage",
    "LogTransaction",
    "LogUnavailable",
    "LogView",
    "NotEncrypted",
    "StorageUnavailable",
    "StoreError",
    "StoreFailed",
    "Stored",
    "today",
]


class NotEncrypted(TypeError):
    """Raised before anything is written when asked to store something that
    is not a parsed, well-formed envelope."""


class StoreError(Exception):
    """Every failure of a store's storage, in the store's own terms, so that
    its callers (the `intake` commands) need not know which database it is."""


class StoreFailed(StoreError):
    """The storage refused a read or a write (a damaged file, a full disk);
    the message is the database's own."""


class StorageUnavailable(StoreError):
    """The store could not make the envelope durable; nothing was stored."""


class CommitUnconfirmed(StorageUnavailable):
    """The envelope's group was still being committed when the wait ran out:
    it may be stored. Sending it again is safe (the store recognises a
    repeat and answers with its seq)."""


class LogIntegrityError(StoreError):
    """The log and the envelopes disagree (or the stored tree is damaged).
    Raised by the log inside a store's transaction: the store rolls the
    whole transaction back, so nothing is stored, and answers
    StorageUnavailable."""


class LogUnavailable(StoreError):
    """The log's storage could not be read (the proofs and checkpoint a
    request asked for); nothing about the log changed."""


@dataclass(frozen=True)
class Stored:
    """An envelope's receipt data: its seq, hash and day, and the log's
    signed checkpoint committed with it (a tree that includes it; size 0 and
    an empty note when the store runs without a log)."""

    seq: int
    envelope_sha256: str
    received_on: str
    log_size: int = 0
    checkpoint: str = ""


def today() -> str:
    """The UTC day: the only arrival information the intake keeps."""
    return datetime.now(UTC).date().isoformat()


class LogView(Protocol):
    """Reads of the log's stored state. Nodes are complete subtrees, keyed by
    their post-order position (tlog.node_pos)."""

    def read_nodes(self, positions: Sequence[int]) -> Mapping[int, bytes]:
        """The hashes stored at `positions` (missing ones left out)."""
        ...

    def read_checkpoint(self) -> tuple[int, str] | None:
        """The stored (size, signed note), or None before the first one."""
        ...


class LogTransaction(LogView, Protocol):
    """The log's part of a store transaction: reads see the transaction's own
    writes, and everything commits (or rolls back) with the envelopes."""

    def tree_state(self) -> tuple[int, int]:
        """(number of stored nodes, highest envelope seq), read together."""
        ...

    def envelopes_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` (seq, canonical envelope) after `seq`, in order: for
        logging envelopes that were stored before the log existed."""
        ...

    def write_nodes(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Store new nodes as (position, hash)."""
        ...

    def write_checkpoint(self, size: int, note: str) -> None:
        """Replace the stored checkpoint."""
        ...

    def claim_key(self, verifier: str) -> None:
        """Record `verifier` (the log's public key) as the one that signs this
        log, or raise LogIntegrityError if another key does: intake processes
        sharing a database must share the log key. A store whose log key may
        be replaced (SQLite, one process) records nothing."""
        ...


class LogStorage(Protocol):
    """Where a log's nodes and checkpoint live, seen from the log."""

    def reading(self) -> AbstractContextManager[LogView]:
        """A view for one request's reads."""
        ...

    def snapshot(self) -> AbstractContextManager[LogView]:
        """A view whose reads all see one committed state."""
        ...

    def transaction(self) -> AbstractContextManager[LogTransaction]:
        """A write transaction of the log's own (`TransparencyLog.sync`),
        committed when the block ends without an exception."""
        ...

    def close(self) -> None: ...


class Log(Protocol):
    """What a store's transaction calls on the log (tlog.TransparencyLog):
    `begin` first, `append_leaf` for each new envelope in seq order, `seal`
    last; then `committed` or `abort`, whichever happened."""

    def leaf(self, canonical: bytes) -> bytes:
        """The leaf hash of an envelope (computed before the transaction)."""
        ...

    def begin(self, txn: LogTransaction) -> int:
        """Load the tree; return the highest envelope seq."""
        ...

    def append_leaf(self, seq: int, leaf: bytes) -> None: ...

    def seal(self, txn: LogTransaction) -> tuple[int, str]:
        """Write the new nodes and checkpoint; return (size, signed note)."""
        ...

    def committed(self) -> None: ...

    def abort(self) -> None: ...


class EnvelopeStore(ABC):
    """The intake's envelope store."""

    @abstractmethod
    def append(self, envelope: Envelope) -> Stored:
        """Store `envelope` durably (with its log leaf, if the store has a log)
        and return its receipt data; an envelope stored before gets its
        original Stored. Raises StorageUnavailable (nothing stored) or
        CommitUnconfirmed (perhaps stored: sending it again is safe)."""

    @abstractmethod
    def rows_after(self, seq: int) -> Iterator[tuple[int, str, bytes]]:
        """(seq, day, canonical envelope) of every envelope after `seq`."""

    @abstractmethod
    def rows_between(self, first: int, last: int) -> Iterator[tuple[int, str, bytes]]:
        """(seq, day, canonical envelope) for seq `first` to `last`, in order."""

    @abstractmethod
    def last_seq(self) -> int: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def exported_through(self) -> int:
        """The highest seq a recorded export covered (0 before any)."""

    @abstractmethod
    def record_export(self, first_seq: int, last_seq: int, sha256: str, exported_on: str) -> None:
        """Record that a batch with this hash holds seq `first_seq` to `last_seq`."""

    def export_turn(self) -> AbstractContextManager[None]:
        """Held by `intake export` while it reads and records a batch, so that
        two exports never cover the same envelopes. One host's exports take a
        lock file in the data directory anyway; a store shared by several
        hosts adds a lock of its own."""
        return nullcontext()

    @abstractmethod
    def close(self) -> None: ...
