"""Is a registrant's envelope among those imported (`keyholder audit receipt`)? (docs/transparency.md)

The answer is one sentence on stdout; the exit status is 0 only for "yes,
and the receipt verifies", 1 for "no" or "not yet", and 2 for a receipt
without a log proof (no checkpoint and inclusion proof): whatever the vault
holds, such a receipt proves nothing, so it is never a success. Nothing is opened: the envelope is found by its
seq and SHA-256, its leaf hash is recomputed from the stored bytes, and the
receipt's inclusion proof and checkpoint signature are checked against the
intake log key the vault pinned.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import Envelope, InvalidSignature
from vault.canonical import strict_json
from vault.transparency import Checkpoint, InvalidNote, InvalidProof, leaf_hash, open_checkpoint, verify_inclusion

from .errors import KeyholderError
from .transparency import pinned_verifier, roots_at

__all__ = ["UNVERIFIED", "Receipt", "Verdict", "check_receipt", "load_receipt"]

RECEIPT_FORMAT = "dvr-receipt/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Receipt:
    seq: int
    envelope_sha256: str
    checkpoint: str | None
    inclusion_proof: tuple[bytes, ...]


UNVERIFIED = 3  # the exit status for a receipt without a log proof (2 stays click's usage error)


@dataclass(frozen=True)
class Verdict:
    held: bool
    sentence: str
    status: int | None = None  # the exit status; None: 0 if held, else 1

    @property
    def exit_status(self) -> int:
        return self.status if self.status is not None else (0 if self.held else 1)


def _b64_hash(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if len(data) != 32:
        raise ValueError
    return data


def load_receipt(path: Path) -> Receipt:
    """Read and check the shape of a receipt file; raise KeyholderError."""
    try:
        obj = strict_json(path.read_bytes())
    except ValueError as exc:
        raise KeyholderError(f"{path.name} is not a JSON receipt ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != RECEIPT_FORMAT:
        raise KeyholderError(f"{path.name} is not a receipt of format {RECEIPT_FORMAT}")
    seq, sha = obj.get("seq"), obj.get("envelope_sha256")
    if type(seq) is not int or seq < 1 or not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise KeyholderError(f"{path.name}: the receipt's seq or envelope_sha256 is malformed")
    if "checkpoint" not in obj:
        return Receipt(seq, sha, None, ())
    checkpoint, proof = obj.get("checkpoint"), obj.get("inclusion_proof")
    if obj.get("leaf_index") != seq - 1 or not isinstance(checkpoint, str) or not isinstance(proof, list):
        raise KeyholderError(f"{path.name}: the receipt's leaf_index, checkpoint or inclusion_proof is malformed")
    try:
        hashes = tuple(_b64_hash(h) for h in proof)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise KeyholderError(f"{path.name}: the receipt's inclusion_proof is not a list of base64 hashes") from None
    return Receipt(seq, sha, checkpoint, hashes)


def _root_at(conn: sqlite3.Connection, size: int) -> bytes:
    row = conn.execute("SELECT root FROM tlog_checkpoints WHERE size = ?", (size,)).fetchone()
    return bytes(row[0]) if row is not None else roots_at(conn, {size})[size]


def check_receipt(conn: sqlite3.Connection, receipt: Receipt) -> Verdict:
    """Decide, in one sentence, whether the receipt's envelope is held and the receipt verifies."""
    seq, sha = receipt.seq, receipt.envelope_sha256
    held_up_to = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0])
    row = conn.execute("SELECT sha256, kid, ct FROM envelopes WHERE seq = ?", (seq,)).fetchone()
    what = f"the envelope of this receipt (seq {seq}, sha256 {sha[:16]}…)"
    if receipt.checkpoint is None:
        where = (
            "is among the envelopes imported"
            if row is not None and row[0] == sha
            else f"is not among the {held_up_to} envelope{'' if held_up_to == 1 else 's'} imported"
        )
        return Verdict(
            False,
            f"Unverified: the receipt has no log proof (no signed checkpoint, no inclusion proof), so it proves"
            f" nothing about what the intake accepted; {what} {where}.",
            UNVERIFIED,
        )
    verifier = pinned_verifier(conn)
    try:
        checkpoint: Checkpoint = open_checkpoint(receipt.checkpoint, verifier)
    except (InvalidNote, InvalidSignature):
        return Verdict(
            False,
            f"No: the receipt's checkpoint is not signed by the intake log key this vault pins"
            f" ({verifier.encode()}), so this intake did not issue the receipt or it was altered.",
        )
    if seq > checkpoint.size:
        return Verdict(
            False,
            f"No: the receipt's checkpoint (size {checkpoint.size}) does not include seq {seq},"
            " so the receipt was altered.",
        )
    if row is None:
        return Verdict(
            False,
            f"Not yet: the intake signed a log that includes {what}, but this vault holds envelopes"
            f" only up to seq {held_up_to}; import the later batches and ask again.",
        )
    agrees = held_up_to < checkpoint.size or _root_at(conn, checkpoint.size) == checkpoint.root_hash
    if not agrees:
        return Verdict(
            False,
            f"No: the receipt's checkpoint is signed by the intake but conflicts with the log"
            f" imported into this vault at size {checkpoint.size}: the intake's log forked; keep this"
            " receipt as evidence.",
        )
    if row[0] != sha:
        return Verdict(
            False,
            f"No: this vault holds a different envelope at seq {seq} (sha256 {str(row[0])[:16]}…),"
            " and the intake's signed log agrees with the vault, so the receipt's envelope hash was"
            " altered.",
        )
    if row[2]:
        leaf = leaf_hash(Envelope(str(row[1]), bytes(row[2])).canonical())
    else:  # erased after a withdrawal: the leaf stays (keyholder_cli/erasure.py)
        leaf = bytes(conn.execute("SELECT leaf FROM tlog_leaves WHERE seq = ?", (seq,)).fetchone()[0])
    try:
        verify_inclusion(leaf, seq - 1, checkpoint.size, receipt.inclusion_proof, checkpoint.root_hash)
    except InvalidProof:
        return Verdict(
            False,
            f"No: {what} is among the envelopes imported, but the receipt's inclusion proof does"
            " not verify against its checkpoint, so the receipt was altered.",
        )
    return Verdict(
        True,
        f"Yes: {what} is among the {held_up_to} envelope{'' if held_up_to == 1 else 's'} imported into this vault,"
        " and the"
        " receipt's inclusion proof and checkpoint signature verify against the pinned intake log key.",
    )
