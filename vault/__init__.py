"""The cryptographic core of Diaspora Registry: the safe layer.

Pure functions over bytes and small dataclasses. The format version implies
the suite; no caller passes algorithm parameters.

The root holds what one registration's path needs (the ministry's key, the
envelope, the batch) and the error every failure derives from. The rest of
the API is six namespaces, each a module with its own __all__: `audit`,
`canonical`, `custody`, `pagetrust`, `shares`, `transparency`. The intake
and the keyholder import these and nothing else (tests/test_import_cycles.py);
the modules behind them, and the plumbing (_fsutil, _workers), may move.
"""

from . import audit, canonical, custody, pagetrust, shares, transparency
from .batch import BatchHeader, read_batch, write_batch
from .envelope import ENVELOPE_FORMATS, Envelope, open_envelope, parse_envelope, seal
from .errors import InvalidBatch, InvalidEnvelope, InvalidKeyBundle, InvalidSignature, MalformedEnvelope, VaultError
from .keys import KeyBundle, UnlockedKey, derive_keys, load_bundle, new_master_secret

__all__ = [
    # errors: every failure is a VaultError; verification raises, never returns a bool
    "InvalidSignature",
    "VaultError",
    # the ministry's key: the master secret, the keys derived from it, the public bundle
    "InvalidKeyBundle",
    "KeyBundle",
    "UnlockedKey",
    "derive_keys",
    "load_bundle",
    "new_master_secret",
    # envelopes: one registration sealed to the current bundle (its format by key version)
    "ENVELOPE_FORMATS",
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
    # namespaces: the audit log and manifest; canonical JSON and base64url; the key file
    # and rotations; the page's signed manifest and pin; M-of-N shares; the Merkle log
    "audit",
    "canonical",
    "custody",
    "pagetrust",
    "shares",
    "transparency",
]
