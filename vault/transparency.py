"""The intake's transparency log: a Merkle tree of envelopes (RFC 6962
hashing) and the signed checkpoints (notes) over its root.

A namespace of the vault's public API (`from vault.transparency import
inclusion_proof`). The intake builds the tree and signs; the keyholder and
anyone holding a receipt verify.
"""

from .merkle import (
    CompactRange,
    InvalidProof,
    NodeId,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    roots_at_sizes,
    verify_inclusion,
)
from .note import Checkpoint, InvalidNote, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint

__all__ = [
    "Checkpoint",
    "CompactRange",
    "InvalidNote",
    "InvalidProof",
    "NodeId",
    "NodeReader",
    "NoteSigner",
    "NoteVerifier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "open_checkpoint",
    "root_of",
    "roots_at_sizes",
    "sign_checkpoint",
    "verify_inclusion",
]
