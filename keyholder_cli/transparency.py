"""Import-side checks against the intake's transparency log (docs/transparency.md).

Every batch carries the intake's log key (a signed-note verifier key) and
the signed checkpoint of the log at the batch's last seq. On import:

1. The first batch pins the log key in the vault; the officer compares the
   printed key with `intake log key` on the server. A batch signed by any
   other key is refused unless the officer re-pins (`--repin`).
2. The checkpoint's signature must verify under the pinned key, and its
   tree size must be the batch's last seq.
3. The root over every envelope imported so far (the vault's stored leaf
   hashes, leaf = SHA-256(0x00 || canonical envelope JSON), seq order) must
   equal the checkpoint's root, and the root at every earlier accepted
   checkpoint's size must still equal that checkpoint's root. So a dropped,
   altered, reordered or forked envelope anywhere in the log is refused,
   even in a batch whose trailer hash was recomputed.

Vault tables (in envelopes.sqlite, beside the envelopes):

    tlog_leaves(seq, leaf)                         leaf hash of each imported envelope
    tlog_pins(id, verifier_key, pinned_on)          pin history; the last row is in force
    tlog_checkpoints(size, root, note, verifier_key) every checkpoint accepted
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

from vault import BatchHeader, Envelope, InvalidSignature
from vault.transparency import Checkpoint, InvalidNote, NoteVerifier, leaf_hash, open_checkpoint, roots_at_sizes

from . import audit
from .errors import ImportRefused, KeyholderError
from .station import Station

__all__ = ["LogCheck", "LogOutcome", "pinned_verifier", "record_pin", "roots_at"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tlog_leaves (
    seq INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tlog_pins (
    id INTEGER PRIMARY KEY,
    verifier_key TEXT NOT NULL,
    pinned_on TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tlog_checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    verifier_key TEXT NOT NULL
);
"""


def ensure_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


def pinned_key(conn: sqlite3.Connection) -> str | None:
    """The verifier key the vault pins, as text, or None before the first import."""
    ensure_tables(conn)
    row = conn.execute("SELECT verifier_key FROM tlog_pins ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def pinned_verifier(conn: sqlite3.Connection) -> NoteVerifier:
    text = pinned_key(conn)
    if text is None:
        raise KeyholderError("this vault pins no intake log key yet: import a batch first")
    return NoteVerifier.parse(text)


def _backfill_leaves(conn: sqlite3.Connection) -> None:
    """Leaf hashes for envelopes imported before the vault kept them."""
    # Seqs run from 1 without a gap (imports refuse gaps), so a vault whose
    # leaf count reaches its highest seq lacks none; this check reads two
    # small indexes instead of every envelope row.
    leaves = conn.execute("SELECT COUNT(*) FROM tlog_leaves").fetchone()[0]
    if leaves == conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0]:
        return
    rows = conn.execute(
        "SELECT e.seq, e.kid, e.ct FROM envelopes e LEFT JOIN tlog_leaves l ON l.seq = e.seq WHERE l.seq IS NULL"
    ).fetchall()
    conn.executemany(
        "INSERT INTO tlog_leaves (seq, leaf) VALUES (?, ?)",
        [(int(seq), leaf_hash(Envelope(str(kid), bytes(ct)).canonical())) for seq, kid, ct in rows],
    )


def roots_at(conn: sqlite3.Connection, sizes: set[int]) -> dict[int, bytes]:
    """The root of the vault's log at each of `sizes`, recomputed from every
    stored leaf in seq order (vault.merkle.roots_at_sizes)."""
    top = max(sizes, default=0)
    leaves = conn.execute("SELECT seq, leaf FROM tlog_leaves WHERE seq <= ? ORDER BY seq", (top,)).fetchall()
    # seq is the primary key, so the rows are distinct and ascending: they
    # run 1..n without a gap exactly when the last one is n.
    if leaves and (leaves[0][0] != 1 or leaves[-1][0] != len(leaves)):
        missing = next(i + 1 for i, (seq, _) in enumerate(leaves) if seq != i + 1)
        raise KeyholderError(f"the vault lacks the leaf of seq {missing}: its database is damaged")
    if len(leaves) < top:
        raise KeyholderError(f"the vault holds {len(leaves)} envelopes, fewer than the {top} a checkpoint covers")
    return roots_at_sizes([bytes(leaf) for _, leaf in leaves], sizes)


@dataclass(frozen=True)
class LogOutcome:
    """What an import established about the log, for the officer."""

    size: int
    verifier_key: str
    pinned_now: bool
    replaced_pin: str | None
    previous_size: int | None

    def sentences(self) -> list[str]:
        out = []
        if self.pinned_now and self.replaced_pin is None:
            out.append(
                f"pinned the intake's log key {self.verifier_key}; compare it now with the output of"
                " `intake log key --data DIR` on the intake server"
            )
        elif self.pinned_now:
            out.append(f"re-pinned the intake's log key: {self.verifier_key} replaces {self.replaced_pin}")
        since = "" if self.previous_size is None else f", consistent with the checkpoint at size {self.previous_size}"
        out.append(
            f"log checkpoint at size {self.size} verified: signed by the pinned key and matching every envelope"
            f" imported{since}"
        )
        return out


class LogCheck:
    """Checks one batch against the intake's log, inside the import's transaction."""

    def __init__(self, source: str, checkpoint: Checkpoint, note: str, key: str, pinned: str | None) -> None:
        self._source = source
        self.checkpoint = checkpoint
        self._note = note
        self._key = key
        self._pinned = pinned

    @classmethod
    def start(cls, conn: sqlite3.Connection, header: BatchHeader, *, source: str, repin: bool) -> LogCheck:
        """Check the batch header's log key and signed checkpoint."""
        note, key = header.extra.get("checkpoint"), header.extra.get("log_key")
        if not isinstance(note, str) or not isinstance(key, str):
            raise ImportRefused(
                f"{source}: the batch carries no signed checkpoint of the intake's log, so nothing proves it is"
                " complete; export it again with a current intake"
            )
        try:
            verifier = NoteVerifier.parse(key)
        except InvalidNote as exc:
            raise ImportRefused(f"{source}: the batch's intake log key is malformed ({exc})") from None
        pinned = pinned_key(conn)
        if pinned is not None and pinned != key and not repin:
            raise ImportRefused(
                f"{source}: the batch is signed by intake log key {key}, but this vault pins {pinned}; if the intake's"
                " log key was really replaced, compare the new one with `intake log key` on the server and import"
                " again with --repin"
            )
        try:
            checkpoint = open_checkpoint(note, verifier)
        except InvalidNote as exc:
            raise ImportRefused(f"{source}: the batch's log checkpoint is malformed ({exc})") from None
        except InvalidSignature as exc:
            raise ImportRefused(f"{source}: the batch's log checkpoint is not validly signed ({exc})") from None
        if checkpoint.size != header.last_seq:
            raise ImportRefused(
                f"{source}: the batch's log checkpoint covers {checkpoint.size} envelopes but the batch ends at"
                f" seq {header.last_seq}"
            )
        return cls(source, checkpoint, note, key, pinned)

    def add_leaves(self, conn: sqlite3.Connection, leaves: list[tuple[int, bytes]]) -> None:
        """Record the leaf hashes (seq, leaf) of newly imported envelopes."""
        conn.executemany("INSERT OR REPLACE INTO tlog_leaves (seq, leaf) VALUES (?, ?)", leaves)

    def finish(self, conn: sqlite3.Connection) -> LogOutcome:
        """Recompute the roots and compare; record the checkpoint and any new pin."""
        _backfill_leaves(conn)
        earlier = {int(s): bytes(r) for s, r in conn.execute("SELECT size, root FROM tlog_checkpoints")}
        size, root = self.checkpoint.size, self.checkpoint.root_hash
        if earlier.get(size, root) != root:
            raise ImportRefused(
                f"{self._source}: the intake signed a different tree of size {size} than the one imported before:"
                " its log forked"
            )
        roots = roots_at(conn, {size, *earlier})
        if roots[size] != root:
            raise ImportRefused(
                f"{self._source}: the envelopes imported so far do not hash to the batch's signed checkpoint"
                f" (size {size}): an envelope was removed, altered or reordered, or the intake's log forked"
            )
        for old, old_root in sorted(earlier.items()):
            if roots[old] != old_root:
                raise ImportRefused(
                    f"{self._source}: the vault's log no longer matches the checkpoint accepted at size {old}:"
                    " the vault's database was altered"
                )
        conn.execute(
            "INSERT OR IGNORE INTO tlog_checkpoints (size, root, note, verifier_key) VALUES (?, ?, ?, ?)",
            (size, root, self._note, self._key),
        )
        pinned_now = self._pinned != self._key
        if pinned_now:
            conn.execute(
                "INSERT INTO tlog_pins (verifier_key, pinned_on) VALUES (?, ?)", (self._key, date.today().isoformat())
            )
        previous = max((s for s in earlier if s != size), default=None)
        return LogOutcome(size, self._key, pinned_now, self._pinned if pinned_now else None, previous)


def record_pin(vault: Station, state: audit.AuditResult | None, outcome: LogOutcome, batch_sha256: str) -> None:
    """Write a (re-)pin of the intake's log key to the vault's audit log.

    Called before the import commits. A vault without an audit log (made
    before the audit log existed) has nowhere to record it.
    """
    if not outcome.pinned_now or not vault.audit_path.exists():
        return
    details: dict[str, Any] = {
        "verifier_key": outcome.verifier_key,
        "replaces": outcome.replaced_pin,
        "checkpoint_size": outcome.size,
        "batch_sha256": batch_sha256,
    }
    audit.append(vault, state or audit.resume(vault), "log_key_pin", details)
