"""Canonical JSON (RFC 8785, JCS) and base64url, the two encodings every format uses."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson
import pybase64
import rfc8785

__all__ = ["MAX_DEPTH", "b64u_decode", "b64u_encode", "canonical_json", "strict_json"]

# The deepest nesting of arrays and objects any of the project's files needs
# is 4 or so; 32 is the intake's limit too. Python's json parser recurses and
# ends in RecursionError near 1,000 levels, so depth is checked first.
MAX_DEPTH = 32


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` as UTF-8 bytes."""
    return rfc8785.dumps(value)


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Duplicate("an object has a duplicate member")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _depth(value: Any) -> int:
    """The nesting depth of a parsed value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def strict_json(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text strictly; raise ValueError for anything else.

    Strict RFC 8259 (orjson: no NaN or Infinity, UTF-8 only), at most
    `max_depth` levels of arrays and objects, and no object with a duplicate
    member (the last one would otherwise silently win). Every file the
    offline side reads goes through here, so a hostile one is a ValueError,
    never a RecursionError.
    """
    try:
        value = orjson.loads(data)  # refuses more than 1,024 levels itself, without recursing
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if _depth(value) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    if isinstance(value, dict | list):
        # Only containers can hide a duplicate member; the depth is bounded now.
        _DECODER.decode(data.decode("utf-8") if isinstance(data, bytes) else data)
    return value


def b64u_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# In a text of length 4k+2 (4k+3) the last character carries 4 (2) unused
# low bits; the canonical encoding sets them to zero.
_UNUSED_BITS = {2: 0b1111, 3: 0b11}


def b64u_decode(text: str) -> bytes:
    """Decode strict base64url without padding; raise ValueError otherwise.

    Only the canonical encoding of a byte string is accepted (unused trailing
    bits zero), so one value has exactly one text form (and one hash).
    """
    if not isinstance(text, str):
        raise TypeError("base64url text must be a str")
    if not text.isascii() or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    raw = text.encode("ascii")
    # The standard alphabet's two letters and padding have no place here;
    # strict decoding below refuses every other character outside the alphabet.
    if b"+" in raw or b"/" in raw or b"=" in raw:
        raise ValueError("not unpadded base64url")
    mask = _UNUSED_BITS.get(len(raw) % 4)
    if mask is not None:
        last = _ALPHABET.find(text[-1])
        if last < 0:
            raise ValueError("not unpadded base64url")
        if last & mask:
            raise ValueError("not the canonical base64url encoding")
    try:
        # pybase64 (SIMD) decodes a 1 KiB envelope in a sixth of the time
        # CPython's translate-then-decode takes; validate=True refuses any
        # character outside the URL-safe alphabet ('+' and '/' were refused
        # above, as pybase64 still lets them through with a warning).
        return pybase64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
