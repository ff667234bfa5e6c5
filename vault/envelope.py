"""Envelopes (FORMATS.md section 2; version 2 in docs/formats.md): a padded
submission sealed with HPKE to the ministry's public key, bound to the key
id and the format through HPKE `info`.

Version 1 seals to an X25519 key (DHKEM-X25519, AES-128-GCM); version 2 to
an X-Wing key (MLKEM768-X25519, ChaCha20-Poly1305). Both pad to the same
buckets, and their ciphertext lengths are disjoint, so a ciphertext's length
tells its version; the key sealed to decides which version is made.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode
from .errors import InvalidEnvelope, MalformedEnvelope
from .keys import UnlockedKey, key_version, kid_for

__all__ = [
    "ENVELOPE_FORMATS",
    "BUCKETS",
    "ENVELOPE_FORMAT",
    "ENVELOPE_FORMAT_V2",
    "MAX_SUBMISSION",
    "Envelope",
    "open_envelope",
    "pad",
    "parse_envelope",
    "seal",
    "unpad",
]

ENVELOPE_FORMAT = "dvr-envelope/1"
ENVELOPE_FORMAT_V2 = "dvr-envelope/2"
# The envelope format each key version takes (docs/formats.md section 11).
ENVELOPE_FORMATS = {1: ENVELOPE_FORMAT, 2: ENVELOPE_FORMAT_V2}
# The same buckets for both versions (docs/formats.md says why): the padded
# sizes, and so what the length of an envelope tells, do not change with it.
BUCKETS = (1024, 2048, 4096, 8192, 16384)
MAX_SUBMISSION = BUCKETS[-1] - 1
CT_LENGTHS = frozenset(b + p.HPKE_ENC_LEN + p.AEAD_TAG_LEN for b in BUCKETS)
CT_LENGTHS_V2 = frozenset(b + p.XWING_ENC_LEN + p.AEAD_TAG_LEN for b in BUCKETS)
if CT_LENGTHS & CT_LENGTHS_V2:  # pragma: no cover - a fact of the constants
    raise AssertionError("the ciphertext lengths of the two versions must not overlap")
_FORMATS = {1: ENVELOPE_FORMAT, 2: ENVELOPE_FORMAT_V2}
_VERSION_OF = {ENVELOPE_FORMAT: 1, ENVELOPE_FORMAT_V2: 2}
_CT_LENGTHS = {1: CT_LENGTHS, 2: CT_LENGTHS_V2}
_MEMBERS = frozenset({"format", "kid", "ct"})
_KID = re.compile(r"[0-9a-f]{32}")


def info_for(kid: str, version: int = 1) -> bytes:
    """HPKE `info`: the ASCII format name ("dvr-envelope/1" or "dvr-envelope/2"),
    one space, and the 32 hex of the kid."""
    return f"{_FORMATS[version]} {kid}".encode("ascii")


def version_of(ct: bytes) -> int | None:
    """The envelope version a ciphertext's length implies, or None for no valid length."""
    n = len(ct)
    return 1 if n in CT_LENGTHS else 2 if n in CT_LENGTHS_V2 else None


def pad(submission: bytes) -> bytes:
    """ISO/IEC 7816-4 padding to the smallest bucket that fits."""
    if not isinstance(submission, bytes):
        raise TypeError("submission must be bytes")
    for bucket in BUCKETS:
        if len(submission) + 1 <= bucket:
            return submission + b"\x80" + bytes(bucket - len(submission) - 1)
    raise ValueError(f"submission of {len(submission)} bytes does not fit the largest bucket ({MAX_SUBMISSION} bytes)")


def unpad(padded: bytes) -> bytes:
    """Undo `pad`; raise ValueError on a length outside the buckets or bad padding."""
    if len(padded) not in BUCKETS:
        raise ValueError("padded length is not a bucket size")
    end = len(padded.rstrip(b"\x00"))
    if end == 0 or padded[end - 1] != 0x80:
        raise ValueError("bad padding")
    return padded[: end - 1]


@dataclass(frozen=True)
class Envelope:
    kid: str
    ct: bytes
    # The canonical bytes, when `parse_envelope` already has them from the
    # checked input text (saves re-encoding the ciphertext).
    _canonical: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def format(self) -> str:
        """ "dvr-envelope/1" or "/2", as the ciphertext's length implies (version 1 for an invalid length)."""
        return _FORMATS[version_of(self.ct) or 1]

    def to_json(self) -> dict[str, str]:
        return {"format": self.format, "kid": self.kid, "ct": b64u_encode(self.ct)}

    def canonical(self) -> bytes:
        """The RFC 8785 bytes of the envelope object: what is stored and hashed.

        The members are ASCII strings drawn from alphabets that JCS never
        escapes (base64url, lowercase hex, the format name), so the canonical
        form is the members in code-point order; tests check it against the
        `rfc8785` package.
        """
        if self._canonical is not None:
            return self._canonical
        return b'{"ct":"%s","format":"%s","kid":"%s"}' % (
            b64u_encode(self.ct).encode("ascii"),
            self.format.encode("ascii"),
            self.kid.encode("ascii"),
        )

    @property
    def sha256(self) -> str:
        """`envelope_sha256`: hex SHA-256 of the canonical JSON."""
        return p.sha256(self.canonical()).hex()


def seal(submission: bytes, public_key: bytes) -> Envelope:
    """Seal `submission` (unpadded bytes) to a raw public key: an envelope of
    version 1 for a 32-byte X25519 key, of version 2 for a 1,216-byte X-Wing key."""
    if not isinstance(public_key, bytes):
        raise TypeError("public_key must be bytes")
    version = key_version(public_key)  # a ValueError for any other length
    kid = kid_for(public_key)
    padded = pad(submission)
    if version == 2:
        ct = p.hpke_seal_v2(padded, p.xwing_public(public_key), info_for(kid, 2))
    else:
        ct = p.hpke_seal_v1(padded, p.x25519_public(public_key), info_for(kid))
    return Envelope(kid=kid, ct=ct)


def parse_envelope(obj: Any, known_kids: Container[str] | None = None) -> Envelope:
    """Check that `obj` (parsed JSON) is a well-formed envelope of version 1 or 2.

    Raises MalformedEnvelope with a code the intake returns to clients. All
    checks here are on structure and length; nothing is decrypted.
    """
    if not isinstance(obj, dict):
        raise MalformedEnvelope("not_an_envelope", "the body must be a JSON object")
    fmt = obj.get("format")
    if not isinstance(fmt, str):
        raise MalformedEnvelope("not_an_envelope", "the envelope has no format")
    version = _VERSION_OF.get(fmt)
    if version is None:
        raise MalformedEnvelope(
            "unknown_format", f"unknown envelope format; expected {ENVELOPE_FORMAT} or {ENVELOPE_FORMAT_V2}"
        )
    if set(obj) != _MEMBERS:
        extra = sorted(set(obj) - _MEMBERS)
        missing = sorted(_MEMBERS - set(obj))
        detail = f"unknown member {extra[0]!r}" if extra else f"missing member {missing[0]!r}"
        raise MalformedEnvelope("not_an_envelope", f"not an envelope: {detail}")
    kid, ct_text = obj["kid"], obj["ct"]
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise MalformedEnvelope("not_an_envelope", "kid must be 32 lowercase hex characters")
    if not isinstance(ct_text, str):
        raise MalformedEnvelope("not_an_envelope", "ct must be a string")
    try:
        ct = b64u_decode(ct_text)
    except ValueError:
        raise MalformedEnvelope("not_an_envelope", "ct is not unpadded base64url") from None
    if len(ct) not in _CT_LENGTHS[version]:
        raise MalformedEnvelope("wrong_length", f"ct has a length that no padded submission in {fmt} can have")
    if known_kids is not None and kid not in known_kids:
        raise MalformedEnvelope("unknown_kid", "the envelope is sealed to a key this server does not know")
    canonical = b'{"ct":"%s","format":"%s","kid":"%s"}' % (
        ct_text.encode("ascii"),
        fmt.encode("ascii"),
        kid.encode("ascii"),
    )
    return Envelope(kid=kid, ct=ct, _canonical=canonical)


def open_envelope(envelope: Envelope, key: UnlockedKey) -> bytes:
    """Open an envelope and return the unpadded submission bytes.

    Any failure (another key, a changed bit, bad padding) raises the one
    opaque InvalidEnvelope.
    """
    version = version_of(envelope.ct)
    if version != key.version or envelope.kid != key.kid:
        raise InvalidEnvelope()
    try:
        if isinstance(key.hpke_private, p.XWingPrivateKey):
            padded = p.hpke_open_v2(envelope.ct, key.hpke_private, info_for(envelope.kid, 2))
        else:
            padded = p.hpke_open_v1(envelope.ct, key.hpke_private, info_for(envelope.kid))
        return unpad(padded)
    except (p.OpenFailed, ValueError):
        raise InvalidEnvelope() from None
