"""vault.rotation: the old epoch endorses the new one (`dvr-key-rotation/1`),
and the new epoch's master secret wraps the old one (`dvr-epoch-wrap/1`).

test_auditlog.py and test_ceremony_cli.py use rotations end to end; this
module checks the two formats on their own: round trips, and that any change
to a statement or a wrap is refused.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vault
from vault import InvalidKeyBundle, load_bundle
from vault.canonical import b64u_decode, b64u_encode
from vault.custody import InvalidKeyFile
from vault.keys import verify_signature
from vault.rotation import ROTATION_FORMAT, WRAP_FORMAT, rotation_statement, unwrap_master, verify_rotation, wrap_master

NOW = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
OLD_MASTER, NEW_MASTER = b"\x31" * 32, b"\x32" * 32
OLD, NEW = vault.derive_keys(OLD_MASTER), vault.derive_keys(NEW_MASTER)
STATEMENT = rotation_statement(OLD, NEW.bundle(NOW), NOW)
WRAP = wrap_master(NEW_MASTER, OLD_MASTER)


def _unsigned_bundle(key: vault.UnlockedKey) -> vault.KeyBundle:
    signed = key.bundle(NOW).to_json()
    return load_bundle({k: v for k, v in signed.items() if k not in {"signing_key", "signature"}})


# --- rotation statements --------------------------------------------------------


def test_a_statement_names_both_epochs_and_verifies_under_the_old_signing_key():
    assert STATEMENT["format"] == ROTATION_FORMAT == "dvr-key-rotation/1"
    assert STATEMENT["created"] == "2026-03-01T09:30:15Z"
    rotation = verify_rotation(STATEMENT, OLD.signing_key)
    assert (rotation.previous_kid, rotation.previous_signing_key) == (OLD.kid, OLD.signing_key)
    assert (rotation.kid, rotation.public_key, rotation.signing_key) == (NEW.kid, NEW.public_key, NEW.signing_key)
    assert rotation.raw == STATEMENT
    assert rotation.matches(NEW.bundle()) and not rotation.matches(OLD.bundle())


def test_a_statement_read_back_from_json_verifies_without_a_trusted_key():
    assert verify_rotation(json.loads(json.dumps(STATEMENT, indent=1))).kid == NEW.kid


def test_the_signature_is_ed25519_over_the_canonical_json_without_it():
    unsigned = {k: v for k, v in STATEMENT.items() if k != "signature"}
    verify_signature(OLD.signing_key, vault.canonical.canonical_json(unsigned), b64u_decode(STATEMENT["signature"]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_rotation_statement_round_trips_between_any_two_epochs(old_master, new_master):
    old, new = vault.derive_keys(old_master), vault.derive_keys(new_master)
    if old.kid == new.kid:
        return
    rotation = verify_rotation(rotation_statement(old, new.bundle()), old.signing_key)
    assert rotation.matches(new.bundle())


def test_a_key_cannot_succeed_itself():
    with pytest.raises(ValueError, match="succeed itself"):
        rotation_statement(OLD, OLD.bundle(NOW))


def test_an_unsigned_new_bundle_cannot_be_endorsed():
    with pytest.raises(InvalidKeyBundle, match="not signed"):
        rotation_statement(OLD, _unsigned_bundle(NEW))


def test_a_statement_endorsed_by_another_key_than_the_trusted_one_is_refused():
    mallory = vault.derive_keys(b"\x66" * 32)
    forged = rotation_statement(mallory, NEW.bundle(NOW), NOW)
    verify_rotation(forged)  # well formed and self-consistent ...
    with pytest.raises(InvalidKeyBundle, match="another signing key"):
        verify_rotation(forged, OLD.signing_key)  # ... but not by the key the reader trusts


def test_naming_the_trusted_key_without_its_signature_is_refused():
    mallory = vault.derive_keys(b"\x66" * 32)
    forged = rotation_statement(mallory, NEW.bundle(NOW), NOW)
    forged["previous_signing_key"] = b64u_encode(OLD.signing_key)
    with pytest.raises(InvalidKeyBundle, match="signature does not verify"):
        verify_rotation(forged, OLD.signing_key)


_MEMBERS = sorted(set(STATEMENT))
_KEYS = ("previous_signing_key", "public_key", "signing_key")


@settings(max_examples=150, deadline=None)
@given(member=st.sampled_from(_MEMBERS), at=st.integers(0, 200), replacement=st.characters(codec="ascii"))
def test_any_changed_character_of_any_member_is_refused(member, at, replacement):
    text = STATEMENT[member]
    at %= len(text)
    if text[at] == replacement:
        return
    changed = {**STATEMENT, member: text[:at] + replacement + text[at + 1 :]}
    with pytest.raises(InvalidKeyBundle):
        verify_rotation(changed)


@settings(max_examples=100, deadline=None)
@given(at=st.integers(0, 63), bit=st.integers(0, 7))
def test_any_flipped_bit_of_the_signature_is_refused(at, bit):
    signature = bytearray(b64u_decode(STATEMENT["signature"]))
    signature[at] ^= 1 << bit
    with pytest.raises(InvalidKeyBundle, match="signature does not verify"):
        verify_rotation({**STATEMENT, "signature": b64u_encode(bytes(signature))})


@pytest.mark.parametrize("member", _KEYS)
def test_swapping_in_another_epochs_key_is_refused(member):
    other = vault.derive_keys(b"\x77" * 32)
    value = {
        "previous_signing_key": other.signing_key,
        "public_key": other.public_key,
        "signing_key": other.signing_key,
    }
    changed = {**STATEMENT, member: b64u_encode(value[member])}
    if member == "public_key":
        changed["kid"] = other.kid  # consistent with the new key, so only the signature can tell
    with pytest.raises(InvalidKeyBundle):
        verify_rotation(changed)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format": "dvr-key-rotation/2"}, "not a key rotation statement"),
        ({"extra": "x"}, "missing, unknown or non-text"),
        ({"created": 20260301}, "missing, unknown or non-text"),
        ({"kid": NEW.kid.upper()}, "kid does not match"),
        ({"public_key": b64u_encode(NEW.public_key[:31])}, "wrong length"),
        ({"signing_key": b64u_encode(NEW.signing_key + b"\x00")}, "wrong length"),
        ({"signature": STATEMENT["signature"] + "="}, "not base64url"),
    ],
)
def test_malformed_statements_are_refused_with_a_reason(edit, message):
    with pytest.raises(InvalidKeyBundle, match=message):
        verify_rotation({**STATEMENT, **edit})


@pytest.mark.parametrize("member", _MEMBERS)
def test_a_statement_missing_any_member_is_refused(member):
    with pytest.raises(InvalidKeyBundle):
        verify_rotation({k: v for k, v in STATEMENT.items() if k != member})


@pytest.mark.parametrize("obj", [None, [], "dvr-key-rotation/1", NEW.bundle(NOW).to_json()])
def test_something_that_is_not_a_statement_is_refused(obj):
    with pytest.raises(InvalidKeyBundle, match="not a key rotation statement"):
        verify_rotation(obj)


# --- epoch wraps -----------------------------------------------------------------


def test_a_wrap_names_both_epochs_and_opens_with_the_new_master_secret():
    assert (WRAP["format"], WRAP["kid"], WRAP["wrapped_kid"]) == (WRAP_FORMAT, NEW.kid, OLD.kid)
    assert set(WRAP) == {"format", "kid", "wrapped_kid", "sealed_master_secret"}
    assert OLD_MASTER not in json.dumps(WRAP).encode() and OLD_MASTER.hex() not in json.dumps(WRAP)
    master, key = unwrap_master(json.loads(json.dumps(WRAP)), NEW_MASTER)
    assert master == OLD_MASTER and key.kid == OLD.kid


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_wrap_then_unwrap_round_trips_any_pair_of_secrets(wrapping, wrapped):
    master, key = unwrap_master(wrap_master(wrapping, wrapped), wrapping)
    assert master == wrapped and key.public_key == vault.derive_keys(wrapped).public_key


def test_wrapping_twice_gives_different_ciphertexts():
    assert wrap_master(NEW_MASTER, OLD_MASTER)["sealed_master_secret"] != WRAP["sealed_master_secret"]


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32).filter(lambda m: m != NEW_MASTER))
def test_any_other_wrapping_secret_is_refused(wrong):
    with pytest.raises(InvalidKeyFile, match="does not open with this key"):
        unwrap_master(WRAP, wrong)


def test_the_wrapped_secret_itself_does_not_open_its_wrap():
    with pytest.raises(InvalidKeyFile, match="does not open"):
        unwrap_master(WRAP, OLD_MASTER)


@settings(max_examples=100, deadline=None)
@given(at=st.integers(0, 71), bit=st.integers(0, 7))
def test_any_flipped_bit_of_the_sealed_secret_is_refused(at, bit):
    sealed = bytearray(b64u_decode(WRAP["sealed_master_secret"]))
    assert len(sealed) == 24 + 32 + 16
    sealed[at] ^= 1 << bit
    with pytest.raises(InvalidKeyFile, match="does not open"):
        unwrap_master({**WRAP, "sealed_master_secret": b64u_encode(bytes(sealed))}, NEW_MASTER)


def test_a_wrap_whose_secret_does_not_derive_its_wrapped_kid_is_refused():
    with pytest.raises(InvalidKeyFile, match="does not match its kid"):
        unwrap_master({**WRAP, "wrapped_kid": NEW.kid}, NEW_MASTER)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {**WRAP, "format": "dvr-epoch-wrap/2"},
        {k: v for k, v in WRAP.items() if k != "sealed_master_secret"},
        {k: v for k, v in WRAP.items() if k != "wrapped_kid"},
        {**WRAP, "sealed_master_secret": WRAP["sealed_master_secret"] + "="},
        {**WRAP, "sealed_master_secret": 7},
    ],
)
def test_malformed_or_unknown_wraps_are_refused(obj):
    with pytest.raises(InvalidKeyFile, match="epoch wrap"):
        unwrap_master(copy.deepcopy(obj), NEW_MASTER)


@pytest.mark.parametrize("secret", [b"short", "not bytes"])
def test_wrapping_with_a_malformed_secret_is_refused_eagerly(secret):
    with pytest.raises((TypeError, ValueError)):
        wrap_master(secret, OLD_MASTER)
    with pytest.raises((TypeError, ValueError)):
        wrap_master(NEW_MASTER, secret)
