"""An independent verifier of the intake's transparency log, for the tests.

It shares no code with `vault`: Ed25519 comes from pyca `cryptography` (the
vault uses PyNaCl), signed notes are parsed from the C2SP text, and proofs
are checked by mirroring RFC 6962's recursive PATH and SUBPROOF definitions
(the vault follows RFC 9162's iterative algorithms). Holding only the log's
verifier key, it checks receipts, inclusion and consistency proofs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Rejected(Exception):
    pass


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def leaf(envelope_canonical: bytes) -> bytes:
    return _h(b"\x00" + envelope_canonical)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over entries (not leaf hashes)."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = _k(len(leaves))
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


@dataclass(frozen=True)
class Key:
    name: str
    key_id: bytes
    public: Ed25519PublicKey


def parse_key(vkey: str) -> Key:
    name, key_hex, material = vkey.strip().split("+", 2)
    raw = base64.b64decode(material)
    if raw[0] != 1 or len(raw) != 33:
        raise Rejected("not an Ed25519 verifier key")
    kid = _h(name.encode() + b"\n" + raw)[:4]
    if kid.hex() != key_hex:
        raise Rejected("key hash mismatch")
    return Key(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass(frozen=True)
class Head:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: str, key: Key) -> Head:
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    ok = False
    for line in sigs.splitlines():
        dash, name, b64sig = line.split(" ")
        blob = base64.b64decode(b64sig)
        if dash != "\u2014" or name != key.name or blob[:4] != key.key_id:
            continue
        try:
            key.public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Rejected("bad checkpoint signature") from None
        ok = True
    if not ok:
        raise Rejected("checkpoint not signed by the log key")
    origin, size, root = text.splitlines()[:3]
    if origin != key.name:
        raise Rejected("checkpoint of another log")
    return Head(origin, int(size), base64.b64decode(root))


def root_from_path(index: int, size: int, leaf_hash: bytes, proof: list[bytes]) -> bytes:
    """Rebuild MTH from a PATH(index, D[size]) proof, mirroring its recursion."""
    if size == 1:
        if proof:
            raise Rejected("inclusion proof too long")
        return leaf_hash
    if not proof:
        raise Rejected("inclusion proof too short")
    k = _k(size)
    *rest, sibling = proof
    if index < k:
        return _h(b"\x01" + root_from_path(index, k, leaf_hash, rest) + sibling)
    return _h(b"\x01" + sibling + root_from_path(index - k, size - k, leaf_hash, rest))


def _subproof_roots(m: int, n: int, proof: list[bytes], whole: bool, old_root: bytes) -> tuple[bytes, bytes]:
    """(hash of D[0:m] within this subtree, hash of this subtree), from SUBPROOF."""
    if m == n:
        if whole:
            if proof:
                raise Rejected("consistency proof too long")
            return old_root, old_root
        if len(proof) != 1:
            raise Rejected("consistency proof has the wrong length")
        return proof[0], proof[0]
    if not proof:
        raise Rejected("consistency proof too short")
    k = _k(n)
    *rest, sibling = proof
    if m <= k:
        old, new = _subproof_roots(m, k, rest, whole, old_root)
        return old, _h(b"\x01" + new + sibling)
    old, new = _subproof_roots(m - k, n - k, rest, False, old_root)
    return _h(b"\x01" + sibling + old), _h(b"\x01" + sibling + new)


def check_consistency(first: Head, second: Head, proof: list[bytes]) -> None:
    if first.size == second.size:
        if proof or first.root != second.root:
            raise Rejected("same size, different roots")
        return
    old, new = _subproof_roots(first.size, second.size, proof, True, first.root)
    if old != first.root or new != second.root:
        raise Rejected("checkpoints are inconsistent")


def check_receipt(receipt: dict, envelope_canonical: bytes, key: Key) -> Head:
    """Everything a registrant's verifier checks: the envelope hash, the leaf
    index, the checkpoint signature, and the inclusion proof."""
    if receipt["envelope_sha256"] != hashlib.sha256(envelope_canonical).hexdigest():
        raise Rejected("receipt is for another envelope")
    if receipt["leaf_index"] != receipt["seq"] - 1:
        raise Rejected("leaf index is not seq - 1")
    head = open_checkpoint(receipt["checkpoint"], key)
    if not 0 <= receipt["leaf_index"] < head.size:
        raise Rejected("leaf outside the checkpoint's tree")
    proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
    if root_from_path(receipt["leaf_index"], head.size, leaf(envelope_canonical), proof) != head.root:
        raise Rejected("inclusion proof does not lead to the checkpoint's root")
    return head
