"""Envelope v1 (FORMATS.md section 2): a padded submission sealed with HPKE
to the ministry's public key, bound to the key id through HPKE `info`."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode
from .errors import InvalidEnvelope, MalformedEnvelope
from .keys import UnlockedKey, kid_for

__all__ = [
    "BUCKETS",
    "ENVELOPE_FORMAT",
    "MAX_SUBMISSION",
    "Envelope",
    "open_envelope",
    "pad",
    "parse_envelope",
    "seal",
    "unpad",
]

ENVELOPE_FORMAT = "dvr-envelope/1"
BUCKETS = (1024, 2048, 4096, 8192, 16384)
MAX_SUBMISSION = BUCKETS[-1] - 1
CT_LENGTHS = frozenset(b + p.HPKE_ENC_LEN + p.AEAD_TAG_LEN for b in BUCKETS)
_MEMBERS = frozenset({"format", "kid", "ct"})
_KID = re.compile(r"[0-9a-f]{32}")


def info_for(kid: str) -> bytes:
    """HPKE `info`: ASCII "dvr-envelope/1 " followed by the 32 hex of the kid."""
    return f"{ENVELOPE_FORMAT} {kid}".encode("ascii")


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

    def to_json(self) -> dict[str, str]:
        return {"format": ENVELOPE_FORMAT, "kid": self.kid, "ct": b64u_encode(self.ct)}

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
            ENVELOPE_FORMAT.encode("ascii"),
            self.kid.encode("ascii"),
        )

    @property
    def sha256(self) -> str:
        """`envelope_sha256`: hex SHA-256 of the canonical JSON."""
        return p.sha256(self.canonical()).hex()


def seal(submission: bytes, public_key: bytes) -> Envelope:
    """Seal `submission` (unpadded bytes) to the X25519 `public_key`."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ValueError("public_key must be 32 raw bytes")
    kid = kid_for(public_key)
    ct = p.hpke_seal_v1(pad(submission), p.x25519_public(public_key), info_for(kid))
    return Envelope(kid=kid, ct=ct)


def parse_envelope(obj: Any, known_kids: Container[str] | None = None) -> Envelope:
    """Check that `obj` (parsed JSON) is a well-formed v1 envelope.

    Raises MalformedEnvelope with a code the intake returns to clients. All
    checks here are on structure and length; nothing is decrypted.
    """
    if not isinstance(obj, dict):
        raise MalformedEnvelope("not_an_envelope", "the body must be a JSON object")
    fmt = obj.get("format")
    if not isinstance(fmt, str):
        raise MalformedEnvelope("not_an_envelope", "the envelope has no format")
    if fmt != ENVELOPE_FORMAT:
        raise MalformedEnvelope("unknown_format", f"unknown envelope format; expected {ENVELOPE_FORMAT}")
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
    if len(ct) not in CT_LENGTHS:
        raise MalformedEnvelope("wrong_length", "ct has a length that no padded submission can have")
    if known_kids is not None and kid not in known_kids:
        raise MalformedEnvelope("unknown_kid", "the envelope is sealed to a key this server does not know")
    canonical = b'{"ct":"%s","format":"%s","kid":"%s"}' % (
        ct_text.encode("ascii"),
        ENVELOPE_FORMAT.encode("ascii"),
        kid.encode("ascii"),
    )
    return Envelope(kid=kid, ct=ct, _canonical=canonical)


def open_envelope(envelope: Envelope, key: UnlockedKey) -> bytes:
    """Open an envelope and return the unpadded submission bytes.

    Any failure (another key, a changed bit, bad padding) raises the one
    opaque InvalidEnvelope.
    """
    if len(envelope.ct) not in CT_LENGTHS or envelope.kid != key.kid:
        raise InvalidEnvelope()
    try:
        return unpad(p.hpke_open_v1(envelope.ct, key.hpke_private, info_for(envelope.kid)))
    except (p.OpenFailed, ValueError):
        raise InvalidEnvelope() from None
