"""vault.keyfile: the master secret sealed under a passphrase (`dvr-keyfile/1`).

test_keys.py has the basic round trip and the too-low-cost refusal; this
module covers the file as a keyholder's disk holds it: what any damage to it
does, and which forms are refused.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vault
from vault import VaultError
from vault.custody import Argon2Cost, InvalidKeyFile, WrongPassphrase, open_keyfile, seal_keyfile
from vault.keyfile import KEYFILE_FORMAT

FAST = Argon2Cost.insecure_for_tests()
MASTER = bytes(range(100, 132))
PASSPHRASE = "correct horse battery staple ë".encode()
SEALED = seal_keyfile(MASTER, PASSPHRASE, FAST)
# As the keyholder writes it (keyholder_cli.station.write_json).
FILE = json.dumps(SEALED, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


def test_the_file_names_its_format_key_and_costs_and_holds_no_plaintext_secret():
    assert SEALED["format"] == KEYFILE_FORMAT == "dvr-keyfile/1"
    assert SEALED["kid"] == vault.derive_keys(MASTER).kid
    assert SEALED["kdf"]["name"] == "argon2id13"
    assert (SEALED["kdf"]["opslimit"], SEALED["kdf"]["memlimit"]) == (FAST.opslimit, FAST.memlimit)
    assert len(vault.canonical.b64u_decode(SEALED["kdf"]["salt"])) == 16
    # SecretBox: 24-byte nonce, 32-byte secret, 16-byte tag.
    assert len(vault.canonical.b64u_decode(SEALED["sealed_master_secret"])) == 24 + 32 + 16
    assert MASTER not in FILE and MASTER.hex().encode() not in FILE and PASSPHRASE not in FILE


def test_the_production_cost_is_libsodiums_moderate_profile():
    assert Argon2Cost.production() == Argon2Cost(3, 256 * 1024 * 1024)


def test_sealing_twice_gives_different_files_that_both_open():
    again = seal_keyfile(MASTER, PASSPHRASE, FAST)
    assert again["kdf"]["salt"] != SEALED["kdf"]["salt"]
    assert again["sealed_master_secret"] != SEALED["sealed_master_secret"]
    assert open_keyfile(again, PASSPHRASE)[0] == open_keyfile(SEALED, PASSPHRASE)[0] == MASTER


def test_the_file_read_back_from_disk_opens_to_the_secret_and_its_keys():
    master, key = open_keyfile(json.loads(FILE), PASSPHRASE)
    assert master == MASTER
    assert key.public_key == vault.derive_keys(MASTER).public_key


def test_an_empty_passphrase_is_refused_when_sealing():
    with pytest.raises(ValueError, match="empty"):
        seal_keyfile(MASTER, b"", FAST)


@pytest.mark.parametrize("secret", [b"short", bytes(33), "not bytes"])
def test_a_master_secret_of_the_wrong_length_or_type_is_refused_when_sealing(secret):
    with pytest.raises((TypeError, ValueError)):
        seal_keyfile(secret, PASSPHRASE, FAST)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(master=st.binary(min_size=32, max_size=32), passphrase=st.binary(min_size=1, max_size=64))
def test_seal_then_open_round_trips_any_secret_under_any_passphrase(master, passphrase):
    got, key = open_keyfile(seal_keyfile(master, passphrase, FAST), passphrase)
    assert got == master and key.kid == vault.derive_keys(master).kid


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64).filter(lambda pw: pw != PASSPHRASE))
def test_any_other_passphrase_is_wrong_passphrase(passphrase):
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        open_keyfile(SEALED, passphrase)


def test_near_misses_of_the_passphrase_are_wrong():
    nfd = "correct horse battery staple e\u0308".encode()  # the same text, decomposed
    for near in (PASSPHRASE + b" ", PASSPHRASE[:-1], PASSPHRASE.upper(), nfd, PASSPHRASE + b"\n"):
        with pytest.raises(WrongPassphrase):
            open_keyfile(SEALED, near)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(at=st.integers(0, len(FILE) - 1), flip=st.integers(1, 255))
def test_any_flipped_byte_of_the_file_is_refused_or_changes_nothing(at, flip):
    damaged = bytearray(FILE)
    damaged[at] ^= flip
    try:
        obj = json.loads(bytes(damaged).decode("utf-8"))
    except ValueError:
        return  # no longer JSON: the reader refuses it before the vault sees it
    if obj == SEALED:  # e.g. indentation changed from a space to a tab
        assert open_keyfile(obj, PASSPHRASE)[0] == MASTER
        return
    with pytest.raises(VaultError) as err:
        open_keyfile(obj, PASSPHRASE)
    assert isinstance(err.value, (InvalidKeyFile, WrongPassphrase))
    assert str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "member",
    ["format", "kid", "kdf", "sealed_master_secret", ("kdf", "name"), ("kdf", "salt"), ("kdf", "opslimit")],
)
def test_a_missing_member_is_a_malformed_key_file(member):
    obj = copy.deepcopy(SEALED)
    if isinstance(member, tuple):
        del obj[member[0]][member[1]]
    else:
        del obj[member]
    with pytest.raises(InvalidKeyFile):
        open_keyfile(obj, PASSPHRASE)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format": "dvr-keyfile/2"}, "unknown key file format"),
        ({"format": "age-encryption.org/v1"}, "unknown key file format"),
        ({"kdf": {**SEALED["kdf"], "name": "scrypt"}}, "unknown key file format"),
        ({"kdf": {**SEALED["kdf"], "name": "argon2i13"}}, "unknown key file format"),
    ],
)
def test_an_unknown_format_or_kdf_is_refused_before_any_work(edit, message):
    with pytest.raises(InvalidKeyFile, match=message):
        open_keyfile({**SEALED, **edit}, PASSPHRASE)


@pytest.mark.parametrize("obj", [None, [], "dvr-keyfile/1", 7, {"format": "dvr-keyfile/1", "kdf": "argon2id13"}])
def test_something_that_is_not_a_key_file_object_is_malformed(obj):
    with pytest.raises(InvalidKeyFile):
        open_keyfile(obj, PASSPHRASE)


@pytest.mark.parametrize(
    "edit",
    [
        {"salt": vault.canonical.b64u_encode(bytes(15))},
        {"salt": vault.canonical.b64u_encode(bytes(17))},
        {"opslimit": 0},
        {"memlimit": 8191},
        {"memlimit": 9192},  # not whole KiB: libsodium would round it to 8192, an alias of the real cost
    ],
)
def test_a_salt_of_the_wrong_length_or_costs_below_the_minimum_are_refused(edit):
    with pytest.raises(InvalidKeyFile, match="Argon2id parameters"):
        open_keyfile({**SEALED, "kdf": {**SEALED["kdf"], **edit}}, PASSPHRASE)


def test_a_secret_that_does_not_derive_the_named_kid_is_refused():
    with pytest.raises(InvalidKeyFile, match="does not match its kid"):
        open_keyfile({**SEALED, "kid": vault.derive_keys(bytes(32)).kid}, PASSPHRASE)


def test_a_sealed_secret_or_salt_that_is_not_canonical_base64url_is_malformed():
    with pytest.raises(InvalidKeyFile, match="malformed"):
        open_keyfile({**SEALED, "sealed_master_secret": SEALED["sealed_master_secret"] + "="}, PASSPHRASE)
    with pytest.raises(InvalidKeyFile, match="malformed"):
        open_keyfile({**SEALED, "kdf": {**SEALED["kdf"], "salt": SEALED["kdf"]["salt"] + "="}}, PASSPHRASE)


@pytest.mark.parametrize("edit", [{"opslimit": 2**32}, {"memlimit": 2**62}])
def test_costs_above_libsodiums_maximum_are_an_invalid_key_file(edit):
    with pytest.raises(InvalidKeyFile):
        open_keyfile({**SEALED, "kdf": {**SEALED["kdf"], **edit}}, PASSPHRASE)


@pytest.mark.parametrize("edit", [{"opslimit": "1"}, {"opslimit": 1.5}, {"memlimit": "8192"}, {"memlimit": 8192.0}])
def test_costs_that_are_not_integers_are_refused(edit):
    with pytest.raises(InvalidKeyFile):
        open_keyfile({**SEALED, "kdf": {**SEALED["kdf"], **edit}}, PASSPHRASE)
