"""vault.note: signed notes and checkpoints, byte for byte as the C2SP specs
and the Go reference (golang.org/x/mod/sumdb/note) write them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import InvalidSignature
from vault.note import (
    Checkpoint,
    InvalidNote,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)

# The key pair and note from the Go reference implementation's tests (used as data).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_reference_note_is_reproduced_byte_for_byte():
    signer = NoteSigner.parse(GO_SKEY)
    assert signer.encode() == GO_SKEY
    assert signer.verifier().encode() == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE
    assert open_note(GO_NOTE, NoteVerifier.parse(GO_VKEY)) == GO_TEXT


def test_key_id_is_the_spec_formula():
    verifier = NoteVerifier.parse(GO_VKEY)
    raw = base64.b64decode(GO_VKEY.split("+", 2)[2])
    assert raw[0] == 0x01
    assert key_id("PeterNeumann", verifier.public_key) == hashlib.sha256(b"PeterNeumann\n" + raw).digest()[:4]
    assert verifier.key_id.hex() == "c74f20a3"


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # key ID off by one
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # short key
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "PeterNeumann+c74f20a3",
        "",
    ],
)
def test_malformed_verifier_keys_are_refused(bad):
    with pytest.raises(InvalidNote):
        NoteVerifier.parse(bad)


def test_every_truncation_of_the_verifier_key_is_refused():
    for i in range(len(GO_VKEY)):
        with pytest.raises(InvalidNote):
            NoteVerifier.parse(GO_VKEY[:i])


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(GO_NOTE.encode()) - 1), bit=st.integers(0, 7))
def test_any_changed_bit_of_the_note_is_refused(position, bit):
    data = bytearray(GO_NOTE.encode("utf-8"))
    data[position] ^= 1 << bit
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # not even text
    with pytest.raises((InvalidNote, InvalidSignature)):
        open_note(text, NoteVerifier.parse(GO_VKEY))


def test_unknown_signatures_are_ignored_but_one_known_signature_is_required():
    other = NoteSigner("someone.example/else", bytes(range(32)))
    both = sign_note(GO_TEXT, other) + GO_NOTE.split("\n\n", 1)[1]
    assert open_note(both, NoteVerifier.parse(GO_VKEY)) == GO_TEXT
    with pytest.raises(InvalidSignature):
        open_note(sign_note(GO_TEXT, other), NoteVerifier.parse(GO_VKEY))


def test_same_name_and_id_with_a_bad_signature_is_refused_even_beside_a_good_one():
    good = GO_NOTE.rstrip("\n").split("\n")[-1]
    name, sig = good[2:].split(" ")
    blob = bytearray(base64.b64decode(sig))
    blob[-1] ^= 1
    bad = f"\u2014 {name} {base64.b64encode(bytes(blob)).decode()}"
    with pytest.raises(InvalidSignature):
        open_note(GO_NOTE + bad + "\n", NoteVerifier.parse(GO_VKEY))


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,  # no signatures
        GO_NOTE.rstrip("\n"),  # no final newline
        GO_NOTE.replace("\u2014", "-"),  # not an em dash
        GO_NOTE.replace("\nthen", "\r\nthen"),  # a control character
        GO_NOTE.replace("AM=", "AM"),  # unpadded base64
    ],
)
def test_malformed_notes_are_refused(note):
    with pytest.raises(InvalidNote):
        open_note(note, NoteVerifier.parse(GO_VKEY))


def test_checkpoint_text_is_the_tlog_checkpoint_format():
    signer = NoteSigner("example.com/log", bytes(32))
    cp = Checkpoint("example.com/log", 20852163, bytes(range(32)))
    assert cp.text() == "example.com/log\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    note = sign_checkpoint(cp, signer)
    assert note.startswith(cp.text() + "\n\u2014 example.com/log ")
    assert open_checkpoint(note, signer.verifier()) == cp


def test_a_checkpoint_of_another_log_is_refused():
    mine = NoteSigner("dvr-intake/a", bytes(32))
    # signed by the right key, but naming another origin: a confused or malicious log
    note = sign_note("dvr-intake/b\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", mine)
    with pytest.raises(InvalidNote):
        open_checkpoint(note, mine.verifier())


@pytest.mark.parametrize("text", ["o\n01\nAAAA\n", "o\n-1\n" + "A" * 43 + "=\n", "o\n1\n", "o\n1\nAAAA\n", "o\n\n1\n"])
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(InvalidNote):
        Checkpoint.parse(text)


def test_signer_keys_round_trip_and_generate_fresh_keys():
    a, b = NoteSigner.generate("x.example/log"), NoteSigner.generate("x.example/log")
    assert a.verifier() != b.verifier()
    assert NoteSigner.parse(a.encode()) == a
    assert "PRIVATE" not in repr(a) and a.encode() not in repr(a)
    with pytest.raises(InvalidNote):
        NoteSigner.parse(a.encode().replace("PRIVATE+KEY+", "PUBLIC+KEY+"))
    with pytest.raises(InvalidNote):
        NoteSigner.generate("bad+name")
