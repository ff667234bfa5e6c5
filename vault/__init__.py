"""The cryptographic core of Diaspora Registry: the safe layer.

Pure functions over bytes and small dataclasses. The format version implies
the suite; no caller passes algorithm parameters.
"""

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

__all__ = [
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
