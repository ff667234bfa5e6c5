"""Envelope and key bundle version 2 (docs/formats.md): the X-Wing suite.

The specification's vectors first (tests/vectors/, each file names its
source): the X-Wing draft's key pairs and shared secrets, and the hpke-pq
draft's HPKE case for exactly our suite. Then the vault's own behaviour:
round trips, tampering, version confusion, bundles, custody and rotation
with version 2 keys. Version 1 keeps its own tests (test_envelope.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from vault import InvalidEnvelope, InvalidKeyBundle, MalformedEnvelope
from vault import _primitives as p
from vault.canonical import b64u_decode, b64u_encode
from vault.custody import Argon2Cost, InvalidKeyFile, open_keyfile, seal_keyfile
from vault.envelope import BUCKETS, CT_LENGTHS, CT_LENGTHS_V2, info_for, parse_envelope
from vault.keys import SUITE_V2, epoch_key, kid_for
from vault.rotation import rotation_statement, unwrap_master, verify_rotation, wrap_master

VECTORS = Path(__file__).parent / "vectors"
XWING = json.loads((VECTORS / "xwing-kem.json").read_text())
HPKE_PQ = json.loads((VECTORS / "hpke-pq-mlkem768-x25519-a0.json").read_text())
MASTER = b"\x42" * 32
V2 = vault.derive_keys(MASTER, 2)
V1 = vault.derive_keys(MASTER, 1)
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
XWING_LABEL = bytes.fromhex("5c2e2f2f5e5c")  # the draft's "\./ /^\"


# --- the specification's vectors ------------------------------------------------


def test_the_vector_files_name_their_sources_and_our_suite() -> None:
    assert "draft-connolly-cfrg-xwing-kem" in XWING["source"] and len(XWING["vectors"]) == 3
    assert "draft-ietf-hpke-pq" in HPKE_PQ["source"]
    assert (HPKE_PQ["mode"], HPKE_PQ["kem_id"], HPKE_PQ["kdf_id"], HPKE_PQ["aead_id"]) == (0, 0x647A, 1, 3)


@pytest.mark.parametrize("case", range(3))
def test_xwing_key_pairs_from_seeds_match_the_draft(case: int) -> None:
    v = XWING["vectors"][case]
    _private, public = p.xwing_private(bytes.fromhex(v["seed"]))
    assert public.hex() == v["pk"]
    assert kid_for(public) == hashlib.sha256(bytes.fromhex(v["pk"])).digest()[:16].hex()


@pytest.mark.parametrize("case", range(3))
def test_xwing_shared_secrets_match_the_draft(case: int) -> None:
    """Decapsulate each vector's ciphertext with the halves our seed
    expansion gives (ML-KEM-768 and X25519 from pyca) and combine them as
    the draft's Combiner does: a check of the expansion and of the split of
    the 1,120-byte encapsulation, independent of the HPKE layer."""
    v = XWING["vectors"][case]
    expanded = hashlib.shake_256(bytes.fromhex(v["seed"])).digest(96)
    ct = bytes.fromhex(v["ct"])
    assert len(ct) == p.XWING_ENC_LEN
    ss_m = MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).decapsulate(ct[:1088])
    x_private = X25519PrivateKey.from_private_bytes(expanded[64:])
    ss_x = x_private.exchange(X25519PublicKey.from_public_bytes(ct[1088:]))
    pk_x = bytes.fromhex(v["pk"])[1184:]
    assert hashlib.sha3_256(ss_m + ss_x + ct[1088:] + pk_x + XWING_LABEL).hexdigest() == v["ss"]


def test_the_hpke_pq_vector_opens_with_the_vault_suite() -> None:
    """Our suite is the vector's: its key from skRm (the 32-byte seed) is
    pkRm, and its encryption (with the vector's AAD, through pyca's own
    AAD entry point, as the public API has none) opens to its plaintext."""
    v = HPKE_PQ
    private, public = p.xwing_private(bytes.fromhex(v["skRm"]))
    assert public.hex() == v["pkRm"]
    assert v["nonce"] == v["base_nonce"]  # sequence number 0: what single-shot HPKE uses
    ct = bytes.fromhex(v["enc"] + v["ct"])
    opened = rust_openssl.hpke._decrypt_with_aad(
        p._SUITE_V2, ct, private, info=bytes.fromhex(v["info"]), aad=bytes.fromhex(v["aad"])
    )
    assert opened == bytes.fromhex(v["pt"])
    with pytest.raises(p.OpenFailed):  # without its AAD it does not open: the AAD is bound
        p.hpke_open_v2(ct, private, bytes.fromhex(v["info"]))


# --- envelopes ------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=vault.envelope.MAX_SUBMISSION))
def test_seal_open_round_trip_v2(data: bytes) -> None:
    env = vault.seal(data, V2.bundle().public_key)
    assert env.format == "dvr-envelope/2" and len(env.ct) in CT_LENGTHS_V2
    assert vault.open_envelope(env, V2) == data
    parsed = parse_envelope(json.loads(json.dumps(env.to_json())), {V2.kid})
    assert parsed == env and parsed.canonical() == env.canonical()


def test_v2_ciphertext_lengths_are_the_buckets_plus_the_encapsulation_and_tag() -> None:
    assert sorted(CT_LENGTHS_V2) == [b + 1120 + 16 for b in BUCKETS] == [2160, 3184, 5232, 9328, 17520]
    assert not CT_LENGTHS & CT_LENGTHS_V2


def test_the_v2_envelope_is_hpke_with_the_documented_info() -> None:
    """Opened with pyca's HPKE directly: the suite, info and padding as docs/formats.md states them."""
    env = vault.seal(b'{"x": 1}', V2.public_key)
    padded = SUITE.decrypt(env.ct, V2.hpke_private, info=f"dvr-envelope/2 {V2.kid}".encode())
    assert padded == b'{"x": 1}\x80' + bytes(1024 - 9)
    assert info_for(V2.kid, 2) == b"dvr-envelope/2 " + V2.kid.encode()
    with pytest.raises(Exception):  # noqa: B017, PT011 - pyca's error type: the v1 info does not open it
        SUITE.decrypt(env.ct, V2.hpke_private, info=f"dvr-envelope/1 {V2.kid}".encode())


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_changed_byte_of_a_v2_envelope_is_refused(data: st.DataObject) -> None:
    env = vault.seal(b"registration", V2.public_key)
    at = data.draw(st.integers(0, len(env.ct) - 1))
    flip = data.draw(st.integers(1, 255))
    ct = bytearray(env.ct)
    ct[at] ^= flip
    with pytest.raises(InvalidEnvelope):
        vault.open_envelope(vault.Envelope(env.kid, bytes(ct)), V2)


def test_versions_do_not_cross() -> None:
    """A v2 ciphertext is not a v1 envelope, a v1 key does not open v2 (nor the reverse), and the
    format member must match the length."""
    v2 = vault.seal(b"a", V2.public_key)
    v1 = vault.seal(b"a", V1.public_key)
    for env, key in ((v2, V1), (v1, V2)):
        with pytest.raises(InvalidEnvelope):
            vault.open_envelope(vault.Envelope(key.kid, env.ct), key)
    for obj in ({**v2.to_json(), "format": "dvr-envelope/1"}, {**v1.to_json(), "format": "dvr-envelope/2"}):
        with pytest.raises(MalformedEnvelope) as err:
            parse_envelope(obj)
        assert err.value.code == "wrong_length"


def test_envelope_rebuilt_from_kid_and_ct_knows_its_version() -> None:
    """The vault stores kid and ct only; the canonical form (hash, log leaf) comes back the same."""
    env = parse_envelope(vault.seal(b"b", V2.public_key).to_json())
    again = vault.Envelope(env.kid, env.ct)
    assert again.canonical() == env.canonical() and again.sha256 == env.sha256
    assert b'"format":"dvr-envelope/2"' in again.canonical()


def test_seal_refuses_a_key_of_no_known_length() -> None:
    with pytest.raises(ValueError, match="1216"):
        vault.seal(b"x", V2.public_key[:-1])
    with pytest.raises(TypeError):
        vault.seal(b"x", bytearray(V2.public_key))  # type: ignore[arg-type]


# --- keys and bundles -----------------------------------------------------------


def test_v2_keys_derive_from_the_master_secret_under_their_own_label() -> None:
    again = vault.derive_keys(MASTER, 2)
    assert again.public_key == V2.public_key and again.kid == V2.kid and again.version == 2
    assert len(V2.public_key) == 1216 and V2.kid != V1.kid
    assert V2.signing_key == V1.signing_key  # one signing key per epoch, whatever its HPKE key
    seed, signing_seed = V2.private_bytes()
    assert seed == p.hkdf_sha256(MASTER, b"dvr/v2/hpke-key")
    assert vault.UnlockedKey.from_private_bytes(seed, signing_seed, 2).public_key == V2.public_key
    with pytest.raises(ValueError, match="version"):
        vault.derive_keys(MASTER, 3)


def test_epoch_key_finds_the_version_by_kid() -> None:
    found = epoch_key(MASTER, V2.kid)
    assert found is not None and (found.kid, found.version, found.public_key) == (V2.kid, 2, V2.public_key)
    found = epoch_key(MASTER, V1.kid)
    assert found is not None and (found.kid, found.version) == (V1.kid, 1)
    assert epoch_key(MASTER, "0" * 32) is None


def test_a_v2_bundle_is_signed_and_loads() -> None:
    bundle = V2.bundle()
    obj = bundle.to_json()
    assert obj["format"] == "dvr-key-bundle/2" and obj["suite"] == SUITE_V2
    assert obj["suite"] == "MLKEM768-X25519/HKDF-SHA256/ChaCha20Poly1305"
    loaded = vault.load_bundle(json.loads(json.dumps(obj)), require_signature=True)
    assert loaded.version == 2 and loaded.public_key == V2.public_key and loaded.kid == V2.kid


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"suite": "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-128-GCM"}, "unknown suite"),
        ({"format": "dvr-key-bundle/3"}, "unknown key bundle format"),
        ({"public_key": b64u_encode(bytes(32))}, "1216-byte X-Wing"),
        ({"kid": "0" * 32}, "does not match"),
    ],
)
def test_a_v2_bundle_that_is_not_consistent_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidKeyBundle, match=message):
        vault.load_bundle({**V2.bundle().to_json(), **change})


def test_a_v1_bundle_cannot_claim_the_v2_suite() -> None:
    with pytest.raises(InvalidKeyBundle, match="unknown suite"):
        vault.load_bundle({**V1.bundle().to_json(), "suite": SUITE_V2})


def test_a_changed_v2_bundle_does_not_verify() -> None:
    obj = V2.bundle().to_json()
    key = bytearray(b64u_decode(obj["public_key"]))
    key[5] ^= 1
    public = bytes(key)
    with pytest.raises(InvalidKeyBundle, match="signature"):
        vault.load_bundle({**obj, "public_key": b64u_encode(public), "kid": kid_for(public)})


# --- custody and rotation with version 2 ----------------------------------------


def test_a_keyfile_holds_a_v2_epoch() -> None:
    fast = Argon2Cost.insecure_for_tests()
    sealed = seal_keyfile(MASTER, b"pw", fast, kid=V2.kid)
    assert sealed["kid"] == V2.kid
    master, key = open_keyfile(sealed, b"pw")
    assert master == MASTER and key.version == 2 and key.public_key == V2.public_key
    with pytest.raises(InvalidKeyFile):
        open_keyfile({**sealed, "kid": "0" * 32}, b"pw")
    with pytest.raises(ValueError, match="kid"):
        seal_keyfile(MASTER, b"pw", fast, kid="0" * 32)


def test_rotation_from_v1_to_v2_verifies_and_the_wrap_opens_the_v1_epoch() -> None:
    old_master, new_master = b"\x51" * 32, b"\x52" * 32
    old, new = vault.derive_keys(old_master, 1), vault.derive_keys(new_master, 2)
    statement = rotation_statement(old, new.bundle())
    rotation = verify_rotation(json.loads(json.dumps(statement)), old.signing_key)
    assert rotation.kid == new.kid and len(rotation.public_key) == 1216 and rotation.matches(new.bundle())
    wrap = wrap_master(new_master, old_master, wrapping_kid=new.kid, wrapped_kid=old.kid)
    assert wrap["kid"] == new.kid and wrap["wrapped_kid"] == old.kid
    master, key = unwrap_master(wrap, new_master)
    assert master == old_master and key.version == 1 and key.kid == old.kid
    with pytest.raises(ValueError, match="kid"):
        wrap_master(new_master, old_master, wrapping_kid=old.kid)


def test_a_rotation_statement_with_a_key_of_another_length_is_refused() -> None:
    old = vault.derive_keys(b"\x61" * 32, 1)
    statement = rotation_statement(old, vault.derive_keys(b"\x62" * 32, 2).bundle())
    short = b64u_decode(statement["public_key"])[:100]
    bad = {**statement, "public_key": b64u_encode(short)}
    with pytest.raises(InvalidKeyBundle, match="wrong length"):
        verify_rotation(bad)


def test_the_signed_bytes_of_a_v2_envelope_sealed_by_hand_open_in_the_vault() -> None:
    """An envelope built from docs/formats.md alone with pyca's HPKE (not vault.seal) opens."""
    submission = b'{"schema": "dvr-registration/1"}'
    padded = submission + b"\x80" + bytes(1024 - len(submission) - 1)
    public = p.xwing_public(V2.public_key)
    ct = SUITE.encrypt(padded, public, info=b"dvr-envelope/2 " + V2.kid.encode())
    env = parse_envelope({"format": "dvr-envelope/2", "kid": V2.kid, "ct": b64u_encode(ct)}, {V2.kid})
    assert vault.open_envelope(env, V2) == submission
