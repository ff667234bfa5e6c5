"""Envelope v1: round trips, tampering, padding, kid binding, and interop with
an envelope built by hand from FORMATS.md alone."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from vault import Envelope, InvalidEnvelope, MalformedEnvelope, open_envelope, parse_envelope, seal
from vault.envelope import BUCKETS, pad, unpad
from vault.keys import kid_for

OTHER = vault.derive_keys(b"\x07" * 32)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=vault.envelope.MAX_SUBMISSION))
def test_seal_open_round_trip(ministry_key, data):
    env = seal(data, ministry_key.public_key)
    assert len(env.ct) in {b + 48 for b in BUCKETS}
    assert open_envelope(env, ministry_key) == data
    assert parse_envelope(env.to_json(), {ministry_key.kid}) == env


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(BUCKETS), st.binary(min_size=32, max_size=32))
def test_canonical_form_is_rfc8785(bucket, public):
    env = Envelope(kid_for(public), bytes(bucket + 48))
    assert env.canonical() == rfc8785.dumps(env.to_json())


def test_too_large_submission_is_refused(ministry_key):
    with pytest.raises(ValueError, match="does not fit"):
        seal(b"x" * 16384, ministry_key.public_key)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=3000), st.data())
def test_any_single_bit_flip_fails_with_the_one_opaque_error(ministry_key, data, draw):
    env = seal(data, ministry_key.public_key)
    bit = draw.draw(st.integers(0, len(env.ct) * 8 - 1))
    flipped = bytearray(env.ct)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidEnvelope) as err:
        open_envelope(Envelope(env.kid, bytes(flipped)), ministry_key)
    assert str(err.value) == "the envelope does not open with this key"


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=1023))
def test_malformed_padding_is_rejected(data):
    padded = pad(data)
    assert unpad(padded) == data
    no_marker = padded.replace(b"\x80", b"\x00")  # the marker byte is gone (or moved)
    if b"\x80" not in data:
        with pytest.raises(ValueError):
            unpad(no_marker)
    with pytest.raises(ValueError):
        unpad(padded[:-1])


def test_envelope_with_bad_padding_inside_fails_opaquely(ministry_key):
    # A correctly encrypted bucket whose plaintext is not 7816-4 padded.
    info = f"dvr-envelope/1 {ministry_key.kid}".encode()
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    ct = suite.encrypt(b"\x01" * 1024, X25519PublicKey.from_public_bytes(ministry_key.public_key), info=info)
    with pytest.raises(InvalidEnvelope):
        open_envelope(Envelope(ministry_key.kid, ct), ministry_key)


def test_envelope_sealed_for_one_kid_never_opens_under_another(ministry_key):
    env = seal(b"hello", ministry_key.public_key)
    with pytest.raises(InvalidEnvelope):
        open_envelope(env, OTHER)
    # Same key, but the envelope relabelled with another kid: info differs, so it fails too.
    relabelled = Envelope(OTHER.kid, env.ct)
    with pytest.raises(InvalidEnvelope):
        open_envelope(relabelled, ministry_key)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hand_built_envelope_opens_with_vault_and_vault_envelopes_open_by_hand(ministry_key):
    """Interop: FORMATS.md section 2 spelled out with pyca and the stdlib only."""
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    private = X25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = hashlib.sha256(public_raw).digest()[:16].hex()
    info = b"dvr-envelope/1 " + kid.encode("ascii")
    submission = json.dumps({"schema": "dvr-registration/1", "lang": "en", "record": {"x": "ë"}}).encode()
    padded = submission + b"\x80" + b"\x00" * (1024 - len(submission) - 1)
    envelope = {
        "format": "dvr-envelope/1",
        "kid": kid,
        "ct": _b64u(suite.encrypt(padded, private.public_key(), info=info)),
    }

    key = vault.UnlockedKey.from_private_bytes(
        private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()), b"\x00" * 32
    )
    parsed = parse_envelope(envelope, {kid})
    assert open_envelope(parsed, key) == submission
    assert parsed.sha256 == hashlib.sha256(rfc8785.dumps(envelope)).hexdigest()

    # And the other way: vault's envelope, opened by hand.
    ours = seal(submission, public_raw).to_json()
    ct = base64.urlsafe_b64decode(ours["ct"] + "=" * (-len(ours["ct"]) % 4))
    assert len(ct) == 32 + 1024 + 16
    plain = suite.decrypt(ct, private, info=info)
    assert plain.rstrip(b"\x00")[:-1] == submission and plain.rstrip(b"\x00")[-1] == 0x80


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ([], "not_an_envelope"),
        ("text", "not_an_envelope"),
        ({"kid": "0" * 32, "ct": ""}, "not_an_envelope"),
        ({"format": "dvr-envelope/3", "kid": "0" * 32, "ct": ""}, "unknown_format"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32, "ct": "", "x": 1}, "not_an_envelope"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32}, "not_an_envelope"),
        ({"format": "dvr-envelope/1", "kid": "ABC", "ct": "AAAA"}, "not_an_envelope"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32, "ct": "a+b/"}, "not_an_envelope"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32, "ct": "AAAA=="}, "not_an_envelope"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32, "ct": _b64u(b"\x00" * 1071)}, "wrong_length"),
        ({"format": "dvr-envelope/1", "kid": "0" * 32, "ct": _b64u(b"\x00" * 1072)}, "unknown_kid"),
    ],
)
def test_parse_envelope_rejects(obj, code):
    with pytest.raises(MalformedEnvelope) as err:
        parse_envelope(obj, {"1" * 32})
    assert err.value.code == code


def test_non_canonical_base64url_is_rejected():
    # "AB" and "AC" both decode to b"\x00" with different trailing bits; only "AA" is canonical.
    assert vault.canonical.b64u_decode("AA") == b"\x00"
    with pytest.raises(ValueError):
        vault.canonical.b64u_decode("AB")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=12))
def test_b64u_decode_accepts_exactly_the_canonical_texts(text):
    try:
        data = vault.canonical.b64u_decode(text)
    except ValueError:
        data = None
    canonical = (
        base64.urlsafe_b64encode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))).rstrip(b"=").decode()
        if len(text) % 4 != 1
        else None
    )
    assert (data is not None) == (canonical == text)
    if data is not None:
        assert vault.canonical.b64u_encode(data) == text


_B64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_B64U + "+/= \t\n\r.\x00é", max_size=16))
def test_b64u_decode_refuses_every_character_outside_the_url_safe_alphabet(text):
    # The decoder is a C library (pybase64): whitespace, padding, the standard
    # alphabet's '+' and '/', and anything else outside base64url must be
    # refused, never skipped, so one value has one text and one hash.
    try:
        data = vault.canonical.b64u_decode(text)
    except ValueError:
        data = None
    if set(text) <= set(_B64U) and len(text) % 4 != 1:
        padded = text + "=" * (-len(text) % 4)
        decoded = base64.urlsafe_b64decode(padded)
        accepted = vault.canonical.b64u_encode(decoded) == text
    else:
        accepted = False
    assert (data is not None) == accepted
    if data is not None:
        assert vault.canonical.b64u_encode(data) == text
