"""Key bundles, kids, key files."""

from __future__ import annotations

import copy

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import vault
from vault import InvalidKeyBundle, load_bundle
from vault.custody import Argon2Cost, WrongPassphrase


def test_kid_is_first_16_bytes_of_sha256_of_the_public_key(ministry_key):
    import hashlib

    assert ministry_key.kid == hashlib.sha256(ministry_key.public_key).digest()[:16].hex()


def test_bundle_signature_verifies_with_an_independent_ed25519(ministry_key):
    bundle = ministry_key.bundle().to_json()
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    public = Ed25519PublicKey.from_public_bytes(vault.canonical.b64u_decode(bundle["signing_key"]))
    public.verify(vault.canonical.b64u_decode(bundle["signature"]), rfc8785.dumps(unsigned))  # raises if wrong


def test_bundle_whose_kid_does_not_match_its_key_is_refused(ministry_key):
    bundle = ministry_key.bundle().to_json()
    bundle["kid"] = "0" * 32
    with pytest.raises(InvalidKeyBundle, match="kid does not match"):
        load_bundle(bundle)


@pytest.mark.parametrize("member", ["created", "public_key", "signing_key"])
def test_any_edit_to_a_signed_bundle_breaks_it(ministry_key, member):
    bundle = copy.deepcopy(ministry_key.bundle().to_json())
    other = vault.derive_keys(b"\x09" * 32).bundle().to_json()
    bundle[member] = other[member] if member != "created" else "2001-01-01T00:00:00Z"
    with pytest.raises(InvalidKeyBundle):
        load_bundle(bundle)


def test_bundle_with_unknown_member_or_format_is_refused(ministry_key):
    bundle = ministry_key.bundle().to_json()
    with pytest.raises(InvalidKeyBundle, match="members"):
        load_bundle({**bundle, "extra": 1})
    with pytest.raises(InvalidKeyBundle, match="format"):
        load_bundle({**bundle, "format": "dvr-key-bundle/9"})


def test_keyfile_round_trip_and_wrong_passphrase():
    master = vault.new_master_secret()
    sealed = vault.custody.seal_keyfile(master, b"correct horse", Argon2Cost.insecure_for_tests())
    got, key = vault.custody.open_keyfile(sealed, b"correct horse")
    assert got == master and key.kid == sealed["kid"] == vault.derive_keys(master).kid
    with pytest.raises(WrongPassphrase):
        vault.custody.open_keyfile(sealed, b"correct horse ")


def test_keyfile_records_its_costs_and_refuses_too_low_ones():
    sealed = vault.custody.seal_keyfile(vault.new_master_secret(), b"pw", Argon2Cost.insecure_for_tests())
    assert sealed["kdf"]["opslimit"] >= 1 and sealed["kdf"]["memlimit"] >= 8192
    sealed["kdf"]["memlimit"] = 1
    with pytest.raises(vault.custody.InvalidKeyFile):
        vault.custody.open_keyfile(sealed, b"pw")


def test_derived_keys_are_deterministic_and_separated():
    a, b = vault.derive_keys(b"\x01" * 32), vault.derive_keys(b"\x01" * 32)
    assert a.public_key == b.public_key and a.signing_key == b.signing_key
    assert a.public_key != a.signing_key
    with pytest.raises(ValueError):
        vault.derive_keys(b"short")
