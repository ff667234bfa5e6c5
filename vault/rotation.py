"""Key rotation: a new epoch endorsed by the old one, and the chain of
wrapped master secrets that lets one quorum of the newest epoch open the
older ones.

Rotation statement, `dvr-key-rotation/1` (docs/formats.md): the previous
epoch's signing key vouches for the new epoch's keys. With the new bundle's
own signature (FORMATS.md section 1) both keys have signed the hand-over, so
an intake that pinned the old signing key can accept the new one, and the
audit log's verifier can follow the key from epoch to epoch.

Epoch wrap, `dvr-epoch-wrap/1`: the previous epoch's master secret sealed
(XSalsa20-Poly1305 SecretBox) under a key derived with HKDF from the new
epoch's master secret and the label `dvr/v1/epoch-wrap`.

The new key may be of either version: a statement names its raw public key,
32 bytes (X25519, bundle version 1) or 1,216 bytes (X-Wing, version 2), so a
rotation from version 1 to 2 is an ordinary rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode, canonical_json
from .errors import InvalidKeyBundle, InvalidKeyFile
from .keys import KeyBundle, UnlockedKey, derive_keys, epoch_key, key_version, kid_for

__all__ = [
    "ROTATION_FORMAT",
    "WRAP_FORMAT",
    "Rotation",
    "rotation_statement",
    "unwrap_master",
    "verify_rotation",
    "wrap_master",
]

ROTATION_FORMAT = "dvr-key-rotation/1"
WRAP_FORMAT = "dvr-epoch-wrap/1"
LABEL_WRAP = b"dvr/v1/epoch-wrap"
_ROTATION_MEMBERS = frozenset(
    {"format", "previous_kid", "previous_signing_key", "kid", "public_key", "signing_key", "created", "signature"}
)


@dataclass(frozen=True)
class Rotation:
    """A checked rotation statement."""

    previous_kid: str
    previous_signing_key: bytes
    kid: str
    public_key: bytes
    signing_key: bytes
    raw: dict[str, Any]

    def matches(self, bundle: KeyBundle) -> bool:
        return (
            bundle.kid == self.kid and bundle.public_key == self.public_key and bundle.signing_key == self.signing_key
        )


def rotation_statement(previous: UnlockedKey, new_bundle: KeyBundle, created: datetime | None = None) -> dict[str, Any]:
    """The statement, signed by `previous`, that `new_bundle`'s keys succeed it."""
    if new_bundle.signing_key is None:
        raise InvalidKeyBundle("the new key bundle is not signed")
    if new_bundle.kid == previous.kid:
        raise ValueError("a key cannot succeed itself")
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = {
        "format": ROTATION_FORMAT,
        "previous_kid": previous.kid,
        "previous_signing_key": b64u_encode(previous.signing_key),
        "kid": new_bundle.kid,
        "public_key": b64u_encode(new_bundle.public_key),
        "signing_key": b64u_encode(new_bundle.signing_key),
        "created": when,
    }
    return {**unsigned, "signature": previous.sign_json(unsigned)}


def verify_rotation(obj: Any, previous_signing_key: bytes | None = None) -> Rotation:
    """Check a rotation statement; raise InvalidKeyBundle.

    The statement must verify under its own `previous_signing_key`; when the
    caller passes the signing key it trusts, that key must be the one named.
    """
    if not isinstance(obj, dict) or obj.get("format") != ROTATION_FORMAT:
        raise InvalidKeyBundle(f"not a key rotation statement of format {ROTATION_FORMAT}")
    if set(obj) != _ROTATION_MEMBERS or not all(isinstance(v, str) for v in obj.values()):
        raise InvalidKeyBundle("the rotation statement has missing, unknown or non-text members")
    try:
        prev_sk = b64u_decode(obj["previous_signing_key"])
        public = b64u_decode(obj["public_key"])
        new_sk = b64u_decode(obj["signing_key"])
        signature = b64u_decode(obj["signature"])
    except ValueError:
        raise InvalidKeyBundle("the rotation statement has a member that is not base64url") from None
    try:
        key_version(public)  # an X25519 key (bundle version 1) or an X-Wing key (version 2)
    except ValueError:
        raise InvalidKeyBundle("the rotation statement has a key of the wrong length") from None
    if len(prev_sk) != 32 or len(new_sk) != 32:
        raise InvalidKeyBundle("the rotation statement has a key of the wrong length")
    if obj["kid"] != kid_for(public):
        raise InvalidKeyBundle("the rotation statement's kid does not match its public key")
    if previous_signing_key is not None and prev_sk != previous_signing_key:
        raise InvalidKeyBundle("the rotation statement is endorsed by another signing key than the trusted one")
    unsigned = {k: v for k, v in obj.items() if k != "signature"}
    if not p.ed25519_verify(prev_sk, canonical_json(unsigned), signature):
        raise InvalidKeyBundle("the rotation statement's signature does not verify")
    return Rotation(obj["previous_kid"], prev_sk, obj["kid"], public, new_sk, dict(obj))


def _wrap_key(wrapping_master: bytes) -> bytes:
    derive_keys(wrapping_master)  # checks type and length
    return p.hkdf_sha256(wrapping_master, LABEL_WRAP)


def wrap_master(
    wrapping_master: bytes, master: bytes, *, wrapping_kid: str | None = None, wrapped_kid: str | None = None
) -> dict[str, Any]:
    """Seal `master` (an older epoch's secret, of key `wrapped_kid`) under the
    epoch of `wrapping_master` (key `wrapping_kid`). Each kid must be one of
    its master secret's keys (version 1 or 2); an omitted one is the version 1 key."""
    wrapping_kid = wrapping_kid or derive_keys(wrapping_master).kid
    wrapped_kid = wrapped_kid or derive_keys(master).kid
    if epoch_key(wrapping_master, wrapping_kid) is None or epoch_key(master, wrapped_kid) is None:
        raise ValueError("a kid given is not a key of its master secret")
    return {
        "format": WRAP_FORMAT,
        "kid": wrapping_kid,
        "wrapped_kid": wrapped_kid,
        "sealed_master_secret": b64u_encode(p.secretbox_seal(_wrap_key(wrapping_master), master)),
    }


def unwrap_master(obj: Any, wrapping_master: bytes) -> tuple[bytes, UnlockedKey]:
    """Open an epoch wrap with the wrapping epoch's master secret."""
    try:
        if obj["format"] != WRAP_FORMAT:
            raise InvalidKeyFile(f"unknown epoch wrap format; expected {WRAP_FORMAT}")
        sealed = b64u_decode(obj["sealed_master_secret"])
        wrapped_kid = obj["wrapped_kid"]
    except (KeyError, TypeError, ValueError):
        raise InvalidKeyFile("the epoch wrap is malformed") from None
    try:
        master = p.secretbox_open(_wrap_key(wrapping_master), sealed)
    except p.OpenFailed:
        raise InvalidKeyFile("the epoch wrap does not open with this key") from None
    key = epoch_key(master, wrapped_kid) if isinstance(wrapped_kid, str) else None
    if key is None:
        raise InvalidKeyFile("the epoch wrap's secret does not match its kid")
    return master, key
