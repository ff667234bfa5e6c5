"""The cryptographic core of Diaspora Registry: the safe layer.

Pure functions over bytes and small dataclasses. The format version implies
the suite; no caller passes algorithm parameters. The intake and the
keyholder import only these names (tests/test_import_cycles.py); the
modules behind them, and the plumbing (_fsutil, _workers), are private.
"""

from .auditlog import AuditEntry, AuditLogError, VerifiedLog, append_entry, verify_head, verify_log
from .batch import BatchHeader, read_batch, write_batch
from .canonical import b64u_decode, b64u_encode, canonical_json, strict_json
from .envelope import Envelope, open_envelope, parse_envelope, seal
from .errors import (
    InvalidBatch,
    InvalidEnvelope,
    InvalidKeyBundle,
    InvalidKeyFile,
    InvalidSignature,
    MalformedEnvelope,
    VaultError,
    WrongPassphrase,
)
from .keyfile import Argon2Cost, open_keyfile, seal_keyfile
from .keys import KeyBundle, UnlockedKey, derive_keys, load_bundle, new_master_secret
from .manifest import MANIFEST_NAME, InvalidManifest, Manifest, make_manifest, sha256_hex, verify_manifest
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
from .pagetrust import (
    PIN_PATH,
    open_page_manifest,
    page_manifest_text,
    parse_page_manifest,
    pin_asset,
    pinned_signing_key,
    sign_page_manifest,
    signing_key_fingerprint,
)
from .rotation import Rotation, rotation_statement, unwrap_master, verify_rotation, wrap_master
from .shares import (
    MAX_SHARES,
    InvalidShare,
    MismatchedShares,
    NotEnoughShares,
    Recovered,
    ShareError,
    ShareInfo,
    SplitSecret,
    combine_shares,
    describe_share,
    normalise_share,
    split_secret,
)

__all__ = [
    # errors: every failure is a VaultError; verification raises, never returns a bool
    "VaultError",
    "InvalidSignature",
    # keys and bundles: the master secret, the keys derived from it, the public bundle,
    # the passphrase key file, and a rotation endorsed by the old key
    "Argon2Cost",
    "InvalidKeyBundle",
    "InvalidKeyFile",
    "KeyBundle",
    "Rotation",
    "UnlockedKey",
    "WrongPassphrase",
    "derive_keys",
    "load_bundle",
    "new_master_secret",
    "open_keyfile",
    "rotation_statement",
    "seal_keyfile",
    "unwrap_master",
    "verify_rotation",
    "wrap_master",
    # envelopes: one registration sealed to the current bundle
    "Envelope",
    "InvalidEnvelope",
    "MalformedEnvelope",
    "open_envelope",
    "parse_envelope",
    "seal",
    # batches: the signed export the intake writes and the keyholder imports
    "BatchHeader",
    "InvalidBatch",
    "read_batch",
    "write_batch",
    # the audit log and the manifest of what was published
    "MANIFEST_NAME",
    "AuditEntry",
    "AuditLogError",
    "InvalidManifest",
    "Manifest",
    "VerifiedLog",
    "append_entry",
    "make_manifest",
    "sha256_hex",
    "verify_head",
    "verify_log",
    "verify_manifest",
    # transparency: signed checkpoints (notes) over a Merkle tree of envelopes
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
    # shares: the master secret split M-of-N among the officers
    "MAX_SHARES",
    "InvalidShare",
    "MismatchedShares",
    "NotEnoughShares",
    "Recovered",
    "ShareError",
    "ShareInfo",
    "SplitSecret",
    "combine_shares",
    "describe_share",
    "normalise_share",
    "split_secret",
    # the page the registrant trusts: its signed manifest and the pinned key
    "PIN_PATH",
    "open_page_manifest",
    "page_manifest_text",
    "parse_page_manifest",
    "pin_asset",
    "pinned_signing_key",
    "sign_page_manifest",
    "signing_key_fingerprint",
    # canonical JSON and base64url, as every signed format spells them
    "b64u_decode",
    "b64u_encode",
    "canonical_json",
    "strict_json",
]
