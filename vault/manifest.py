"""Publication manifest, `dvr-manifest/1` (docs/formats.md).

`manifest.json` lists the SHA-256 of every other file of a publication and
points at the audit log entry that records the publication (its seq and the
hash of the entry before it, which that entry's `prev` repeats). It is
signed by the ministry signing key over its canonical JSON without
`signature`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode, canonical_json
from .errors import InvalidSignature, VaultError
from .keys import UnlockedKey

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "InvalidManifest", "Manifest", "make_manifest", "verify_manifest"]

MANIFEST_FORMAT = "dvr-manifest/1"
MANIFEST_NAME = "manifest.json"
_MEMBERS = frozenset({"format", "generated_on", "kid", "signing_key", "files", "audit", "signature"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidManifest(VaultError):
    """A manifest that is malformed."""


@dataclass(frozen=True)
class Manifest:
    generated_on: str
    kid: str
    signing_key: bytes
    files: dict[str, str]
    audit_seq: int
    audit_prev: str


def sha256_hex(data: bytes) -> str:
    return p.sha256(data).hex()


def make_manifest(
    files: Mapping[str, bytes], key: UnlockedKey, *, generated_on: str, audit_seq: int, audit_prev: str
) -> dict[str, Any]:
    """The signed manifest object for `files` (name → content)."""
    if MANIFEST_NAME in files:
        raise ValueError("the manifest cannot list itself")
    for name in files:
        if not _NAME.fullmatch(name):
            raise ValueError(f"publication file name {name!r} is not a plain file name")
    unsigned = {
        "format": MANIFEST_FORMAT,
        "generated_on": generated_on,
        "kid": key.kid,
        "signing_key": b64u_encode(key.signing_key),
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
        "audit": {"seq": audit_seq, "prev": audit_prev},
    }
    return {**unsigned, "signature": key.sign_json(unsigned)}


def verify_manifest(obj: Any, signing_key: bytes) -> Manifest:
    """Check a manifest's form and its signature under `signing_key`.

    Raises InvalidManifest or InvalidSignature.
    """
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT or set(obj) != _MEMBERS:
        raise InvalidManifest(f"not a {MANIFEST_FORMAT} manifest")
    files, audit = obj["files"], obj["audit"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and _NAME.fullmatch(k) and isinstance(v, str) and _HEX64.fullmatch(v)
        for k, v in files.items()
    ):
        raise InvalidManifest("the manifest's file list is malformed")
    if (
        not isinstance(audit, dict)
        or set(audit) != {"seq", "prev"}
        or type(audit["seq"]) is not int
        or not 0 <= audit["seq"] < 2**53  # an integer JSON (and RFC 8785) can carry exactly
        or not isinstance(audit["prev"], str)
        or not _HEX64.fullmatch(audit["prev"])
    ):
        raise InvalidManifest("the manifest's audit reference is malformed")
    try:
        named_key = b64u_decode(obj["signing_key"])
        signature = b64u_decode(obj["signature"])
    except (TypeError, ValueError):
        raise InvalidManifest("the manifest's signing key or signature is not base64url") from None
    if named_key != signing_key:
        raise InvalidSignature("the manifest names another signing key than the ministry's")
    unsigned = {k: v for k, v in obj.items() if k != "signature"}
    if not p.ed25519_verify(signing_key, canonical_json(unsigned), signature):
        raise InvalidSignature("the manifest's signature does not verify")
    return Manifest(obj["generated_on"], obj["kid"], named_key, dict(files), audit["seq"], audit["prev"])
