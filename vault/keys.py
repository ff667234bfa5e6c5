"""The ministry's keys: one 32-byte master secret from which, with HKDF and
purpose-named labels, the HPKE X25519 key and the Ed25519 signing key derive.
Also the public key bundle (FORMATS.md section 1) and signatures."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode, canonical_json
from .errors import InvalidKeyBundle, InvalidSignature

__all__ = [
    "BUNDLE_FORMAT",
    "SUITE",
    "KeyBundle",
    "UnlockedKey",
    "derive_keys",
    "kid_for",
    "load_bundle",
    "new_master_secret",
    "verify_signature",
]

BUNDLE_FORMAT = "dvr-key-bundle/1"
SUITE = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-128-GCM"
MASTER_SECRET_LEN = 32
LABEL_HPKE = b"dvr/v1/hpke-key"
LABEL_SIGNING = b"dvr/v1/signing-key"
_KID = re.compile(r"[0-9a-f]{32}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def kid_for(public_key: bytes) -> str:
    """Hex of the first 16 bytes of SHA-256(raw public key)."""
    if len(public_key) != 32:
        raise ValueError("an X25519 public key is 32 bytes")
    return p.sha256(public_key)[:16].hex()


def new_master_secret() -> bytes:
    """32 bytes from the OS CSPRNG."""
    return p.random_bytes(MASTER_SECRET_LEN)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature; raise InvalidSignature if it does not hold."""
    if not p.ed25519_verify(public_key, message, signature):
        raise InvalidSignature("the signature does not verify")


@dataclass(frozen=True)
class UnlockedKey:
    """A key epoch in memory: the private halves derived from a master secret."""

    hpke_private: X25519PrivateKey = field(repr=False)
    _signing_seed: bytes = field(repr=False)
    public_key: bytes
    signing_key: bytes
    kid: str

    def sign(self, message: bytes) -> bytes:
        return p.ed25519_sign(self._signing_seed, message)

    def sign_json(self, obj: dict[str, Any]) -> str:
        """b64u Ed25519 signature over the canonical JSON of `obj`."""
        return b64u_encode(self.sign(canonical_json(obj)))

    def private_bytes(self) -> tuple[bytes, bytes]:
        """The raw private halves, for handing to worker processes in memory."""
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        raw = self.hpke_private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return raw, self._signing_seed

    @classmethod
    def from_private_bytes(cls, hpke_raw: bytes, signing_seed: bytes) -> UnlockedKey:
        private = p.x25519_private(hpke_raw)
        public = p.x25519_public_bytes(private)
        return cls(private, signing_seed, public, p.ed25519_public(signing_seed), kid_for(public))

    def bundle(self, created: datetime | None = None) -> KeyBundle:
        """The signed public key bundle of this epoch."""
        when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        unsigned = {
            "format": BUNDLE_FORMAT,
            "kid": self.kid,
            "suite": SUITE,
            "public_key": b64u_encode(self.public_key),
            "created": when,
            "signing_key": b64u_encode(self.signing_key),
        }
        return load_bundle({**unsigned, "signature": self.sign_json(unsigned)}, require_signature=True)


def derive_keys(master_secret: bytes) -> UnlockedKey:
    """Derive the HPKE and signing keys of an epoch from its master secret."""
    if not isinstance(master_secret, bytes):
        raise TypeError("master secret must be bytes")
    if len(master_secret) != MASTER_SECRET_LEN:
        raise ValueError("master secret must be 32 bytes")
    return UnlockedKey.from_private_bytes(
        p.hkdf_sha256(master_secret, LABEL_HPKE), p.hkdf_sha256(master_secret, LABEL_SIGNING)
    )


@dataclass(frozen=True)
class KeyBundle:
    """A checked public key bundle. `raw` is the JSON object as published."""

    kid: str
    public_key: bytes
    created: str
    signing_key: bytes | None
    raw: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


_REQUIRED = {"format", "kid", "suite", "public_key", "created"}
_SIGNED = {"signing_key", "signature"}


def load_bundle(obj: Any, *, require_signature: bool = False) -> KeyBundle:
    """Check a key bundle object and return it; raise InvalidKeyBundle.

    A bundle that carries a signature must verify under its own signing key;
    whether that signing key is the ministry's is for the caller to pin.
    """
    if not isinstance(obj, dict):
        raise InvalidKeyBundle("a key bundle must be a JSON object")
    if obj.get("format") != BUNDLE_FORMAT:
        raise InvalidKeyBundle(f"unknown key bundle format; expected {BUNDLE_FORMAT}")
    members = set(obj)
    if not members >= _REQUIRED or not members <= _REQUIRED | _SIGNED or len(members & _SIGNED) == 1:
        raise InvalidKeyBundle("the key bundle has missing or unknown members")
    if obj["suite"] != SUITE:
        raise InvalidKeyBundle("the key bundle names an unknown suite")
    try:
        public = b64u_decode(obj["public_key"])
    except (TypeError, ValueError):
        raise InvalidKeyBundle("public_key is not base64url") from None
    if len(public) != 32:
        raise InvalidKeyBundle("public_key is not a 32-byte X25519 key")
    if not isinstance(obj["kid"], str) or not _KID.fullmatch(obj["kid"]):
        raise InvalidKeyBundle("kid is not 32 lowercase hex characters")
    if obj["kid"] != kid_for(public):
        raise InvalidKeyBundle("the key bundle's kid does not match its public key")
    if not isinstance(obj["created"], str) or not _INSTANT.fullmatch(obj["created"]):
        raise InvalidKeyBundle("created is not an instant YYYY-MM-DDTHH:MM:SSZ")
    signing_key = None
    if "signature" in obj:
        try:
            signing_key = b64u_decode(obj["signing_key"])
            signature = b64u_decode(obj["signature"])
        except (TypeError, ValueError):
            raise InvalidKeyBundle("signing_key or signature is not base64url") from None
        unsigned = {k: v for k, v in obj.items() if k != "signature"}
        if len(signing_key) != 32 or not p.ed25519_verify(signing_key, canonical_json(unsigned), signature):
            raise InvalidKeyBundle("the key bundle's signature does not verify")
    elif require_signature:
        raise InvalidKeyBundle("the key bundle is not signed")
    return KeyBundle(kid=obj["kid"], public_key=public, created=obj["created"], signing_key=signing_key, raw=dict(obj))
