"""vault.pagetrust: the pin asset, the key the intake pins, the signed static
manifest and its tampering, and the fingerprint."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import InvalidSignature, derive_keys
from vault.custody import rotation_statement
from vault.pagetrust import (
    open_page_manifest,
    page_manifest_text,
    parse_page_manifest,
    pin_asset,
    pinned_key_from_asset,
    pinned_signing_key,
    sign_page_manifest,
    signing_key_fingerprint,
)
from vault.transparency import InvalidNote

A, B, C = (derive_keys(bytes([i]) * 32) for i in (1, 2, 3))
FILES = {
    "/": "11" * 32,
    "/assets/form.js": "22" * 32,
    "/assets/ministry-key.js": hashlib.sha256(pin_asset(A.signing_key)).hexdigest(),
    "/en/": "33" * 32,
}


def test_the_pin_asset_is_a_pure_function_of_the_key() -> None:
    asset = pin_asset(A.signing_key)
    assert asset == pin_asset(A.signing_key) != pin_asset(B.signing_key)
    assert b'export const MINISTRY_SIGNING_KEY = "' in asset
    assert signing_key_fingerprint(A.signing_key).encode() in asset
    assert pinned_key_from_asset(asset) == A.signing_key
    assert pinned_key_from_asset(asset + b"\n") is None
    assert b"MINISTRY_SIGNING_KEY = null" in pin_asset(None)
    with pytest.raises(ValueError):
        pin_asset(b"short")


def test_the_fingerprint_is_sha256_of_the_raw_key_first_16_bytes_in_groups() -> None:
    digest = hashlib.sha256(A.signing_key).hexdigest()[:32]
    assert signing_key_fingerprint(A.signing_key) == " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def test_the_pin_follows_the_rotations_from_the_root_key() -> None:
    ab = rotation_statement(A, B.bundle())
    bc = rotation_statement(B, C.bundle())
    assert pinned_signing_key(A.signing_key, []) == A.signing_key
    assert pinned_signing_key(A.signing_key, [bc, ab]) == C.signing_key
    assert pinned_signing_key(B.signing_key, [ab, bc]) == C.signing_key
    assert pinned_signing_key(A.signing_key, [bc]) == A.signing_key  # not from A: ignored
    forged = {**ab, "signing_key": bc["signing_key"]}  # the signature no longer covers it
    assert pinned_signing_key(A.signing_key, [forged]) == A.signing_key
    back = rotation_statement(B, A.bundle())  # a cycle ends the chain
    assert pinned_signing_key(A.signing_key, [ab, back]) == B.signing_key
    assert pinned_signing_key(None, [ab]) is None


def test_the_signed_manifest_round_trips() -> None:
    text = page_manifest_text(FILES)
    assert text.splitlines()[0] == "dvr-static-manifest/1"
    assert text.splitlines()[1:] == [f"{d} {p}" for p, d in sorted(FILES.items())]
    note = sign_page_manifest(text, A)
    assert note.startswith(text + "\n\u2014 dvr-ministry ")
    assert open_page_manifest(note, A.signing_key) == FILES
    with pytest.raises(InvalidSignature):
        open_page_manifest(note, B.signing_key)


@pytest.mark.parametrize(
    "text",
    [
        "dvr-static-manifest/2\n" + "11" * 32 + " /\n",
        "dvr-static-manifest/1\n",
        "dvr-static-manifest/1\n" + "11" * 32 + " /en/\n" + "11" * 32 + " /\n",  # not sorted
        "dvr-static-manifest/1\n" + "11" * 32 + " /\n" + "22" * 32 + " /\n",  # twice
        "dvr-static-manifest/1\n" + "1" * 63 + " /\n",
        "dvr-static-manifest/1\n" + "11" * 32 + " relative\n",
        "dvr-static-manifest/1\n" + "11" * 32 + " /a b\n",
        "dvr-static-manifest/1\n" + "11" * 32 + " /",
    ],
)
def test_a_malformed_manifest_is_refused(text: str) -> None:
    with pytest.raises(InvalidNote):
        parse_page_manifest(text)


NOTE = sign_page_manifest(page_manifest_text(FILES), A).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(NOTE) - 1), st.integers(1, 255))
def test_any_byte_flip_in_the_signed_note_is_detected(position: int, flip: int) -> None:
    tampered = bytearray(NOTE)
    tampered[position] ^= flip
    try:
        text = bytes(tampered).decode("utf-8")
    except UnicodeDecodeError:
        return  # not even text: every reader refuses it (tests/test_page_cmd.py)
    with pytest.raises((InvalidNote, InvalidSignature)):
        open_page_manifest(text, A.signing_key)
