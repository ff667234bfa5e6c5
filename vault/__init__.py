"""The cryptographic core of Diaspora Registry: the safe layer.

Pure functions over bytes and small dataclasses. The format version implies
the suite; no caller passes algorithm parameters.
"""

from .auditlog import AuditEntry, AuditLogError, VerifiedLog, append_entry, verify_head, verify_log
from .canonical import b64u_decode, b64u_encode, canonical_json
from .envelope import BUCKETS, ENVELOPE_FORMAT, Envelope, open_envelope, pad, parse_envelope, seal, unpad
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
from .keys import KeyBundle, UnlockedKey, derive_keys, kid_for, load_bundle, new_master_secret, verify_signature
from .manifest import InvalidManifest, Manifest, make_manifest, verify_manifest
from .merkle import InvalidProof, leaf_hash, root_of, verify_consistency, verify_inclusion
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
    InvalidShare,
    MismatchedShares,
    NotEnoughShares,
    Recovered,
    ShareError,
    ShareInfo,
    SplitSecret,
    combine_shares,
    describe_share,
    split_secret,
)

__all__ = [
    # key custody and the audit log (issue 4)
    "AuditEntry",
    "AuditLogError",
    "InvalidManifest",
    "InvalidShare",
    "Manifest",
    "MismatchedShares",
    "NotEnoughShares",
    "Recovered",
    "Rotation",
    "ShareError",
    "ShareInfo",
    "SplitSecret",
    "VerifiedLog",
    "append_entry",
    "combine_shares",
    "describe_share",
    "make_manifest",
    "rotation_statement",
    "split_secret",
    "unwrap_master",
    "verify_head",
    "verify_log",
    "verify_manifest",
    "verify_rotation",
    "wrap_master",
    # the transparency log (issue 5)
    "Checkpoint",
    "InvalidNote",
    "InvalidProof",
    "NoteSigner",
    "NoteVerifier",
    "leaf_hash",
    "open_checkpoint",
    "root_of",
    "sign_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    # the page the registrant trusts (issue 14)
    "PIN_PATH",
    "open_page_manifest",
    "page_manifest_text",
    "parse_page_manifest",
    "pin_asset",
    "pinned_signing_key",
    "sign_page_manifest",
    "signing_key_fingerprint",
    # the envelope core
    "BUCKETS",
    "ENVELOPE_FORMAT",
    "Argon2Cost",
    "Envelope",
    "InvalidBatch",
    "InvalidEnvelope",
    "InvalidKeyBundle",
    "InvalidKeyFile",
    "InvalidSignature",
    "KeyBundle",
    "MalformedEnvelope",
    "UnlockedKey",
    "VaultError",
    "WrongPassphrase",
    "b64u_decode",
    "b64u_encode",
    "canonical_json",
    "derive_keys",
    "kid_for",
    "load_bundle",
    "new_master_secret",
    "open_envelope",
    "open_keyfile",
    "pad",
    "parse_envelope",
    "seal",
    "seal_keyfile",
    "unpad",
    "verify_signature",
]
