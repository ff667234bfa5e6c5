"""Erasure of a withdrawn registrant's envelopes from the vault (issue 18).

`keyholder publish` names the seqs of every envelope of a registrant who
withdrew (their registrations, corrections and the withdrawal itself;
docs/formats.md section 12). They are erased here: a signed `erase` entry
(the count and the seqs, nothing else) goes into the audit log first, then
one transaction empties their ciphertexts with SQLite's secure_delete on, so
the freed bytes are overwritten, and the write-ahead log is checkpointed and
truncated so no older page image of them stays beside the database. The row
keeps its seq, day, kid and envelope hash: the intake's transparency log has
that leaf, imports of older batches still match it, and receipts still
verify from the stored leaf.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from vault import UnlockedKey

from . import audit
from .errors import KeyholderError, disk_hint
from .station import Station

__all__ = ["erase_envelopes"]


def erase_envelopes(vault: Station, state: audit.AuditResult, key: UnlockedKey, seqs: Sequence[int]) -> int:
    """Log, then erase, the ciphertexts of `seqs`; return how many were erased."""
    if not seqs:
        return 0
    audit.append(vault, state, "erase", {"count": len(seqs), "seqs": list(seqs)}, key)
    conn = vault.connect()
    try:
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("UPDATE envelopes SET ct = X'' WHERE seq = ?", [(s,) for s in seqs])
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise KeyholderError(
                f"the vault could not erase {len(seqs)} withdrawn envelopes ({exc}{disk_hint(exc)});"
                " nothing was erased, the next publish erases them"
            ) from None
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return len(seqs)
