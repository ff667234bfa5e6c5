"""vault.manifest: the signed list of a publication's files (`dvr-manifest/1`).

test_keyholder_cli.py checks a publication against its audit log through
`keyholder audit`; this module checks the manifest itself: round trip, any
tampering refused, and only plain file names.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from vault import InvalidSignature, VaultError
from vault.audit import InvalidManifest, make_manifest, verify_manifest
from vault.canonical import b64u_decode, b64u_encode
from vault.keys import verify_signature
from vault.manifest import MANIFEST_FORMAT, MANIFEST_NAME

KEY = vault.derive_keys(b"\x41" * 32)
OTHER = vault.derive_keys(b"\x42" * 32)
PREV = hashlib.sha256(b"the entry before").hexdigest()
FILES = {"report.html": b"<html>...</html>", "table_origin.csv": b"origin,n\nXK,120\n", "data.json": b"{}"}
MANIFEST = make_manifest(FILES, KEY, generated_on="2026-03-01", audit_seq=7, audit_prev=PREV)

_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True).filter(lambda n: n != MANIFEST_NAME)


def test_a_manifest_lists_the_sha256_of_every_file_and_the_audit_entry():
    assert MANIFEST["format"] == MANIFEST_FORMAT == "dvr-manifest/1"
    assert MANIFEST["files"] == {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
    assert MANIFEST["audit"] == {"seq": 7, "prev": PREV}
    assert (MANIFEST["kid"], b64u_decode(MANIFEST["signing_key"])) == (KEY.kid, KEY.signing_key)


def test_the_signature_is_ed25519_over_the_canonical_json_without_it():
    unsigned = {k: v for k, v in MANIFEST.items() if k != "signature"}
    verify_signature(KEY.signing_key, vault.canonical.canonical_json(unsigned), b64u_decode(MANIFEST["signature"]))


def test_a_manifest_read_back_from_disk_verifies_to_what_was_made():
    on_disk = json.dumps(MANIFEST, indent=1, ensure_ascii=False)
    manifest = verify_manifest(json.loads(on_disk), KEY.signing_key)
    assert manifest == vault.audit.Manifest(
        generated_on="2026-03-01",
        kid=KEY.kid,
        signing_key=KEY.signing_key,
        files={name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()},
        audit_seq=7,
        audit_prev=PREV,
    )


@settings(max_examples=60, deadline=None)
@given(
    files=st.dictionaries(_names, st.binary(max_size=64), max_size=6),
    seq=st.integers(1, 2**53 - 1),
    prev=st.binary(min_size=32, max_size=32).map(bytes.hex),
)
def test_make_then_verify_round_trips_any_publication(files, seq, prev):
    manifest = verify_manifest(
        make_manifest(files, KEY, generated_on="2026-03-01", audit_seq=seq, audit_prev=prev), KEY.signing_key
    )
    assert manifest.files == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert (manifest.audit_seq, manifest.audit_prev) == (seq, prev)


def test_the_same_publication_gives_the_same_manifest():
    again = make_manifest(dict(reversed(FILES.items())), KEY, generated_on="2026-03-01", audit_seq=7, audit_prev=PREV)
    assert vault.canonical.canonical_json(again) == vault.canonical.canonical_json(MANIFEST)


def _strings(obj, path=()):
    """Every string in the manifest (values and the files' names) with the path to it."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if path == ("files",):
                yield (*path, k), k, "name"
            yield from _strings(v, (*path, k))
    elif isinstance(obj, str):
        yield path, obj, "value"


_STRINGS = [(path, text, what) for path, text, what in _strings(MANIFEST) if path != ("format",)]


def _with(obj, path, what, new):
    obj = copy.deepcopy(obj)
    *parents, last = path
    holder = obj
    for step in parents:
        holder = holder[step]
    if what == "name":
        holder[new] = holder.pop(last)
    else:
        holder[last] = new
    return obj


@settings(max_examples=200, deadline=None)
@given(
    target=st.sampled_from(_STRINGS),
    at=st.integers(0, 200),
    replacement=st.characters(codec="ascii", exclude_characters="\x00"),
)
def test_any_changed_character_anywhere_is_refused(target, at, replacement):
    path, text, what = target
    at %= len(text)
    if text[at] == replacement:
        return
    tampered = _with(MANIFEST, path, what, text[:at] + replacement + text[at + 1 :])
    with pytest.raises((InvalidManifest, InvalidSignature)):
        verify_manifest(tampered, KEY.signing_key)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**53 - 1).filter(lambda s: s != 7))
def test_any_other_audit_seq_is_refused(seq):
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_manifest({**MANIFEST, "audit": {**MANIFEST["audit"], "seq": seq}}, KEY.signing_key)


@settings(max_examples=100, deadline=None)
@given(at=st.integers(0, 63), bit=st.integers(0, 7))
def test_any_flipped_bit_of_the_signature_is_refused(at, bit):
    signature = bytearray(b64u_decode(MANIFEST["signature"]))
    signature[at] ^= 1 << bit
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_manifest({**MANIFEST, "signature": b64u_encode(bytes(signature))}, KEY.signing_key)


def test_a_file_added_or_left_out_is_refused():
    added = copy.deepcopy(MANIFEST)
    added["files"]["extra.csv"] = hashlib.sha256(b"x").hexdigest()
    dropped = copy.deepcopy(MANIFEST)
    del dropped["files"]["report.html"]
    for tampered in (added, dropped):
        with pytest.raises(InvalidSignature):
            verify_manifest(tampered, KEY.signing_key)


def test_a_manifest_signed_by_another_key_is_refused_even_when_it_names_that_key():
    forged = make_manifest(FILES, OTHER, generated_on="2026-03-01", audit_seq=7, audit_prev=PREV)
    verify_manifest(forged, OTHER.signing_key)
    with pytest.raises(InvalidSignature, match="another signing key"):
        verify_manifest(forged, KEY.signing_key)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_manifest({**forged, "signing_key": MANIFEST["signing_key"]}, KEY.signing_key)


@pytest.mark.parametrize(
    "name",
    [
        "",
        MANIFEST_NAME,
        "../report.html",
        "sub/report.html",
        "sub\\report.html",
        "/etc/passwd",
        ".hidden",
        "..",
        "-rf",
        "_x",
        "has space.csv",
        "report.html\n",
        "tab\tle.csv",
        "raport-ë.csv",
        "x" * 129,
    ],
)
def test_a_file_name_that_is_not_plain_is_refused_when_making(name):
    with pytest.raises(ValueError):
        make_manifest({**FILES, name: b"x"}, KEY, generated_on="2026-03-01", audit_seq=7, audit_prev=PREV)


@pytest.mark.parametrize("name", ["a", "x" * 128, "table_origin-by.sex.csv", "2026.json"])
def test_plain_file_names_up_to_128_characters_are_accepted(name):
    make_manifest({name: b""}, KEY, generated_on="2026-03-01", audit_seq=1, audit_prev=PREV)


@pytest.mark.parametrize("name", ["../escape.csv", "a/b", ".x", "", "x" * 129, "café.csv"])
def test_a_listed_file_name_that_is_not_plain_is_malformed_before_the_signature(name):
    # Even when the signing key signed it: a reader never opens a path outside the publication.
    unsigned = {k: v for k, v in MANIFEST.items() if k != "signature"}
    unsigned["files"] = {name: "0" * 64}
    signed = {**unsigned, "signature": KEY.sign_json(unsigned)}
    with pytest.raises(InvalidManifest, match="file list"):
        verify_manifest(signed, KEY.signing_key)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format": "dvr-manifest/2"}, "not a dvr-manifest/1"),
        ({"extra": 1}, "not a dvr-manifest/1"),
        ({"files": ["report.html"]}, "file list"),
        ({"files": {"report.html": "0" * 63}}, "file list"),
        ({"files": {"report.html": "A" * 64}}, "file list"),  # hex is lower case
        ({"files": {"report.html": 0}}, "file list"),
        ({"audit": {"seq": 7}}, "audit reference"),
        ({"audit": {"seq": 7, "prev": PREV, "next": PREV}}, "audit reference"),
        ({"audit": {"seq": "7", "prev": PREV}}, "audit reference"),
        ({"audit": {"seq": 7.0, "prev": PREV}}, "audit reference"),
        ({"audit": {"seq": True, "prev": PREV}}, "audit reference"),
        ({"audit": {"seq": 7, "prev": PREV.upper()}}, "audit reference"),
        ({"audit": [7, PREV]}, "audit reference"),
        ({"signing_key": 5}, "not base64url"),
        ({"signature": MANIFEST["signature"] + "="}, "not base64url"),
    ],
)
def test_malformed_manifests_are_refused_with_a_reason(edit, message):
    with pytest.raises(InvalidManifest, match=message):
        verify_manifest({**MANIFEST, **edit}, KEY.signing_key)


@pytest.mark.parametrize("member", sorted(MANIFEST))
def test_a_manifest_missing_any_member_is_refused(member):
    with pytest.raises(InvalidManifest):
        verify_manifest({k: v for k, v in MANIFEST.items() if k != member}, KEY.signing_key)


@pytest.mark.parametrize("obj", [None, [], "dvr-manifest/1", {"format": "dvr-manifest/1"}])
def test_something_that_is_not_a_manifest_is_refused(obj):
    with pytest.raises(InvalidManifest):
        verify_manifest(obj, KEY.signing_key)


@pytest.mark.parametrize("seq", [2**53, 2**63 - 1, -1, -(2**53)])
def test_an_audit_seq_beyond_json_integers_is_a_malformed_manifest(seq):
    with pytest.raises(VaultError):
        verify_manifest({**MANIFEST, "audit": {"seq": seq, "prev": PREV}}, KEY.signing_key)
