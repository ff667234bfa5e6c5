"""Canonical JSON (RFC 8785, JCS) and base64url, the two encodings every format uses."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import rfc8785

__all__ = ["b64u_decode", "b64u_encode", "canonical_json"]

_B64U = re.compile(r"[A-Za-z0-9_-]*")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` as UTF-8 bytes."""
    return rfc8785.dumps(value)


def b64u_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode strict base64url without padding; raise ValueError otherwise.

    Only the canonical encoding of a byte string is accepted, so one value
    has exactly one text form (and one hash).
    """
    if not isinstance(text, str):
        raise TypeError("base64url text must be a str")
    if not _B64U.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the regex already excludes this
        raise ValueError("not unpadded base64url") from exc
    if b64u_encode(data) != text:
        raise ValueError("not the canonical base64url encoding")
    return data
