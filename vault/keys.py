"""The ministry's keys: one 32-byte master secret from which, with HKDF and
purpose-named labels, the HPKE key and the Ed25519 signing key derive.
Also the public key bundle (FORMATS.md section 1, docs/formats.md for
version 2) and signatures.

A key of version 1 is an X25519 key (`dvr/v1/hpke-key`); a key of version 2
is an X-Wing (MLKEM768-X25519) key whose 32-byte seed is derived with the
label `dvr/v2/hpke-key`. The signing key is derived the same way for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.hpke import MLKEM768X25519PrivateKey

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode, canonical_json
from .errors import InvalidKeyBundle, InvalidSignature

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_V2",
    "SUITE",
    "SUITE_V2",
    "VERSIONS",
    "KeyBundle",
    "UnlockedKey",
    "derive_keys",
    "epoch_key",
    "key_version",
    "kid_for",
    "load_bundle",
    "new_master_secret",
    "verify_signature",
]

BUNDLE_FORMAT = "dvr-key-bundle/1"
SUITE = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-128-GCM"
BUNDLE_FORMAT_V2 = "dvr-key-bundle/2"
SUITE_V2 = "MLKEM768-X25519/HKDF-SHA256/ChaCha20Poly1305"
VERSIONS = (1, 2)
# Per version: bundle format, suite name, raw public key length.
_BUNDLES = {1: (BUNDLE_FORMAT, SUITE, 32), 2: (BUNDLE_FORMAT_V2, SUITE_V2, p.XWING_PUBLIC_LEN)}
_PUBLIC_LENGTHS = frozenset(length for _f, _s, length in _BUNDLES.values())
MASTER_SECRET_LEN = 32
LABEL_HPKE = b"dvr/v1/hpke-key"
LABEL_HPKE_V2 = b"dvr/v2/hpke-key"
LABEL_SIGNING = b"dvr/v1/signing-key"
_KID = re.compile(r"[0-9a-f]{32}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def kid_for(public_key: bytes) -> str:
    """Hex of the first 16 bytes of SHA-256(raw public key): 32 bytes of
    X25519 (version 1) or 1,216 bytes of X-Wing (version 2)."""
    if len(public_key) not in _PUBLIC_LENGTHS:
        raise ValueError("a public key is 32 bytes (X25519) or 1216 bytes (X-Wing)")
    return p.sha256(public_key)[:16].hex()


def key_version(public_key: bytes) -> int:
    """The key version a raw public key's length implies; ValueError for none."""
    for version, (_fmt, _suite, length) in _BUNDLES.items():
        if len(public_key) == length:
            return version
    raise ValueError("a public key is 32 bytes (X25519) or 1216 bytes (X-Wing)")


def new_master_secret() -> bytes:
    """32 bytes from the OS CSPRNG."""
    return p.random_bytes(MASTER_SECRET_LEN)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature; raise InvalidSignature if it does not hold."""
    if not p.ed25519_verify(public_key, message, signature):
        raise InvalidSignature("the signature does not verify")


@dataclass(frozen=True)
class UnlockedKey:
    """A key epoch in memory: the private halves derived from a master secret.

    `version` 1: `hpke_private` is an X25519 key; 2: an X-Wing key, kept
    with its 32-byte seed (`_hpke_seed`) so that it can be handed on.
    """

    hpke_private: X25519PrivateKey | MLKEM768X25519PrivateKey = field(repr=False)
    _signing_seed: bytes = field(repr=False)
    public_key: bytes
    signing_key: bytes
    kid: str
    version: int = 1
    _hpke_seed: bytes = field(default=b"", repr=False)

    def sign(self, message: bytes) -> bytes:
        return p.ed25519_sign(self._signing_seed, message)

    def sign_json(self, obj: dict[str, Any]) -> str:
        """b64u Ed25519 signature over the canonical JSON of `obj`."""
        return b64u_encode(self.sign(canonical_json(obj)))

    def private_bytes(self) -> tuple[bytes, bytes]:
        """The raw private halves (the X25519 key or the X-Wing seed, and the
        signing seed), for handing to worker processes in memory; with
        `version`, `from_private_bytes` makes the key again."""
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        if isinstance(self.hpke_private, MLKEM768X25519PrivateKey):
            return self._hpke_seed, self._signing_seed
        raw = self.hpke_private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return raw, self._signing_seed

    @classmethod
    def from_private_bytes(cls, hpke_raw: bytes, signing_seed: bytes, version: int = 1) -> UnlockedKey:
        signing = p.ed25519_public(signing_seed)
        if version == 2:
            xwing, public = p.xwing_private(hpke_raw)
            return cls(xwing, signing_seed, public, signing, kid_for(public), 2, hpke_raw)
        if version != 1:
            raise ValueError(f"unknown key version {version}")
        private = p.x25519_private(hpke_raw)
        public = p.x25519_public_bytes(private)
        return cls(private, signing_seed, public, signing, kid_for(public))

    def bundle(self, created: datetime | None = None) -> KeyBundle:
        """The signed public key bundle of this epoch (its format by `version`)."""
        when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fmt, suite, _length = _BUNDLES[self.version]
        unsigned = {
            "format": fmt,
            "kid": self.kid,
            "suite": suite,
            "public_key": b64u_encode(self.public_key),
            "created": when,
            "signing_key": b64u_encode(self.signing_key),
        }
        return load_bundle({**unsigned, "signature": self.sign_json(unsigned)}, require_signature=True)


def derive_keys(master_secret: bytes, version: int = 1) -> UnlockedKey:
    """Derive the HPKE and signing keys of an epoch from its master secret:
    an X25519 key for `version` 1, an X-Wing key for 2."""
    if not isinstance(master_secret, bytes):
        raise TypeError("master secret must be bytes")
    if len(master_secret) != MASTER_SECRET_LEN:
        raise ValueError("master secret must be 32 bytes")
    if version not in VERSIONS:
        raise ValueError(f"unknown key version {version}")
    label = LABEL_HPKE_V2 if version == 2 else LABEL_HPKE
    return UnlockedKey.from_private_bytes(
        p.hkdf_sha256(master_secret, label), p.hkdf_sha256(master_secret, LABEL_SIGNING), version
    )


def epoch_key(master_secret: bytes, kid: str) -> UnlockedKey | None:
    """The key of `master_secret` whose kid is `kid`, of whichever version; None if neither is."""
    for version in VERSIONS:
        key = derive_keys(master_secret, version)
        if key.kid == kid:
            return key
    return None


@dataclass(frozen=True)
class KeyBundle:
    """A checked public key bundle. `raw` is the JSON object as published."""

    kid: str
    public_key: bytes
    created: str
    signing_key: bytes | None
    raw: dict[str, Any]

    @property
    def version(self) -> int:
        """1 for an X25519 bundle, 2 for an X-Wing one (its format)."""
        return 2 if self.raw.get("format") == BUNDLE_FORMAT_V2 else 1

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
    versions = {fmt: (v, suite, length) for v, (fmt, suite, length) in _BUNDLES.items()}
    fmt = obj.get("format")
    if not isinstance(fmt, str) or fmt not in versions:
        raise InvalidKeyBundle(f"unknown key bundle format; expected {BUNDLE_FORMAT} or {BUNDLE_FORMAT_V2}")
    version, suite, length = versions[fmt]
    members = set(obj)
    if not members >= _REQUIRED or not members <= _REQUIRED | _SIGNED or len(members & _SIGNED) == 1:
        raise InvalidKeyBundle("the key bundle has missing or unknown members")
    if obj["suite"] != suite:
        raise InvalidKeyBundle("the key bundle names an unknown suite")
    try:
        public = b64u_decode(obj["public_key"])
    except (TypeError, ValueError):
        raise InvalidKeyBundle("public_key is not base64url") from None
    if len(public) != length:
        kind = "32-byte X25519" if version == 1 else "1216-byte X-Wing"
        raise InvalidKeyBundle(f"public_key is not a {kind} key")
    if version == 2:
        try:
            p.xwing_public(public)
        except ValueError:
            raise InvalidKeyBundle("public_key is not a valid X-Wing key") from None
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
