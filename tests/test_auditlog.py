"""vault.auditlog: the hash-chained, signed audit log and its signed head.

Property: every edit of a byte, dropped line, swap of two lines, and line
appended with a fresh signature by another key is detected, and the error
names the first bad entry.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from vault.auditlog import AuditLogError, append_entry, new_entry, verify_head, verify_log

OLD = vault.derive_keys(b"\x01" * 32)
NEW = vault.derive_keys(b"\x02" * 32)
MALLORY = vault.derive_keys(b"\x66" * 32)
NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def build(tmp: Path) -> tuple[bytes, dict]:
    """ceremony, unlock, two unsigned imports, publish, rotation, unlock: a log ending in a signed entry."""
    log, head = tmp / "audit.log", tmp / "audit.head"
    append_entry(log, "ceremony", {"custody": "shares", "officers": 5, "threshold": 3}, OLD, head_path=head, now=NOW)
    append_entry(log, "unlock", {"custody": "shares", "shares": [1, 3, 5]}, OLD, head_path=head, now=NOW)
    append_entry(log, "import", {"batch": "b1", "first_seq": 1, "last_seq": 9, "new": 9}, None, head_path=head, now=NOW)
    append_entry(
        log, "import", {"batch": "b2", "first_seq": 10, "last_seq": 12, "new": 3}, None, head_path=head, now=NOW
    )
    append_entry(log, "publish", {"files": {"a.csv": "00" * 32}}, OLD, head_path=head, now=NOW)
    statement = vault.custody.rotation_statement(OLD, NEW.bundle(NOW), NOW)
    append_entry(log, "rotation", {"custody": "passphrase", "statement": statement}, NEW, head_path=head, now=NOW)
    append_entry(log, "unlock", {"custody": "passphrase"}, NEW, head_path=head, now=NOW)
    return log.read_bytes(), json.loads(head.read_text())


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[bytes, dict]:
    return build(tmp_path_factory.mktemp("log"))


def check(data: bytes, head: dict) -> vault.audit.VerifiedLog:
    log = verify_log(data, anchor=NEW.bundle(NOW))
    verify_head(head, log)
    return log


def test_the_untouched_log_verifies_and_follows_the_rotation(good):
    data, head = good
    log = check(data, head)
    assert [e.kind for e in log.entries] == ["ceremony", "unlock", "import", "import", "publish", "rotation", "unlock"]
    assert log.current_kid == NEW.kid and set(log.signing_keys) == {OLD.kid, NEW.kid}
    assert log.last_signed == 7 and log.unsigned_tail == []
    assert [e.signed for e in log.entries] == [True, True, False, False, True, True, True]
    verify_log(data, anchor=OLD.bundle(NOW))  # the first key anchors it too


def test_every_line_is_canonical_json_and_chains_to_the_one_before(good):
    data, _head = good
    lines = data.splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries[0]["prev"] == "0" * 64
    for before, line, entry in zip(lines, lines[1:], entries[1:], strict=False):
        assert entry["prev"] == hashlib.sha256(before).hexdigest()
        assert vault.canonical.canonical_json(entry) == line


def first_bad(data: bytes, head: dict) -> int:
    with pytest.raises(AuditLogError) as err:
        check(data, head)
    return err.value.entry


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_byte_edit_is_detected(good, data):
    log, head = good
    pos = data.draw(st.integers(0, len(log) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != log[pos]))
    edited = log[:pos] + bytes([new]) + log[pos + 1 :]
    bad = first_bad(edited, head)
    line_of_edit = log[:pos].count(b"\n") + 1
    assert 1 <= bad <= line_of_edit + 1


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_a_dropped_line_is_detected(good, data):
    log, head = good
    lines = log.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1))
    assert first_bad(b"".join(lines[:i] + lines[i + 1 :]), head) == i + 1


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_two_swapped_lines_are_detected(good, data):
    log, head = good
    lines = log.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 2))
    j = data.draw(st.integers(i + 1, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    assert first_bad(b"".join(lines), head) == i + 1


@settings(max_examples=50, deadline=None)
@given(
    kind=st.sampled_from(["unlock", "publish", "import", "rotation", "note"]),
    claim=st.sampled_from(["own", "current"]),
    details=st.dictionaries(st.text(min_size=1, max_size=5), st.integers(-(2**53) + 1, 2**53 - 1), max_size=3),
)
def test_a_line_appended_with_another_keys_signature_is_detected(good, kind, claim, details):
    log, head = good
    last = verify_log(log).entries[-1]
    if kind == "rotation":
        details = {
            **details,
            "statement": vault.custody.rotation_statement(MALLORY, vault.derive_keys(b"\x67" * 32).bundle(NOW)),
        }
        forged = new_entry(last, kind, details, vault.derive_keys(b"\x67" * 32), now=NOW)
    else:
        forged = new_entry(last, kind, details, MALLORY, now=NOW)
    if claim == "current":  # claim the real key's kid, keep Mallory's signature over that claim
        body = {**forged.body(), "kid": NEW.kid}
        forged = vault.audit.AuditEntry(**{**forged.__dict__, "kid": NEW.kid, "sig": MALLORY.sign_json(body)})
    assert first_bad(log + forged.line() + b"\n", head) == last.seq + 1


def test_truncation_is_caught_by_the_signed_head(good):
    log, head = good
    lines = log.splitlines(keepends=True)
    cut = b"".join(lines[:-1])
    verify_log(cut, anchor=NEW.bundle(NOW))  # the chain alone cannot see a cut end...
    assert first_bad(cut, head) == len(lines)  # ...the signed head can
    repointed = {**head, "seq": 6, "entry_sha256": verify_log(cut).entries[5].sha256}
    with pytest.raises(AuditLogError, match="head file has a signature that does not verify"):
        check(cut, repointed)
    # Cut before the rotation: the trusted current key is never reached.
    assert first_bad(b"".join(lines[:-2]), head) == len(lines) - 1


def test_a_log_made_up_under_another_key_fails_the_anchor(tmp_path):
    append_entry(tmp_path / "log", "ceremony", {}, MALLORY, now=NOW)
    data = (tmp_path / "log").read_bytes()
    verify_log(data)  # internally consistent
    with pytest.raises(AuditLogError) as err:
        verify_log(data, anchor=OLD.bundle(NOW))
    assert "without establishing the trusted key" in str(err.value)


def test_unsigned_entries_are_reported_until_a_signature_covers_them(tmp_path):
    log = tmp_path / "log"
    append_entry(log, "init", {}, OLD, now=NOW)
    append_entry(log, "import", {"new": 1}, None, now=NOW)
    tail = verify_log(log.read_bytes()).unsigned_tail
    assert [e.seq for e in tail] == [2]
    append_entry(log, "unlock", {}, OLD, now=NOW)
    assert verify_log(log.read_bytes()).unsigned_tail == []


def test_key_uses_must_be_signed_and_only_by_the_current_key(tmp_path):
    log = tmp_path / "log"
    with pytest.raises(AuditLogError):
        append_entry(log, "unlock", {}, OLD, now=NOW)  # no ceremony or init first
    assert not log.exists()
    append_entry(log, "init", {}, OLD, now=NOW)
    with pytest.raises(ValueError):
        append_entry(log, "publish", {}, None, now=NOW)
    with pytest.raises(AuditLogError):
        append_entry(log, "unlock", {}, NEW, now=NOW)  # a key the log never established
    with pytest.raises(AuditLogError):
        append_entry(log, "init", {}, OLD, now=NOW)  # a second genesis
    assert len(log.read_bytes().splitlines()) == 1


def test_appending_refuses_a_tampered_log(tmp_path):
    log = tmp_path / "log"
    append_entry(log, "init", {"note": "a"}, OLD, now=NOW)
    append_entry(log, "unlock", {}, OLD, now=NOW)
    log.write_bytes(log.read_bytes().replace(b'"note":"a"', b'"note":"b"'))
    before = log.read_bytes()
    with pytest.raises(AuditLogError) as err:
        append_entry(log, "unlock", {}, OLD, now=NOW)
    assert err.value.entry == 1
    assert log.read_bytes() == before


def test_a_torn_last_line_is_reported(good):
    log, head = good
    assert first_bad(log[:-1], head) == len(log.splitlines())
    assert first_bad(log[: len(log) // 2], head) >= 1


def test_entries_record_utc_instants(tmp_path):
    entry = append_entry(tmp_path / "log", "init", {}, OLD)
    assert datetime.strptime(entry.time, "%Y-%m-%dT%H:%M:%SZ")
    assert entry.time.endswith("Z")


def test_a_full_disk_mid_entry_leaves_the_log_whole(tmp_path, monkeypatch):
    data, head = build(tmp_path)
    log_path = tmp_path / "audit.log"
    inode = log_path.stat().st_ino
    real_write = os.write

    def full_disk(fd: int, chunk: bytes) -> int:
        if os.fstat(fd).st_ino != inode:
            return real_write(fd, chunk)
        if len(chunk) > 10:  # the disk takes ten bytes of the entry, then is full
            return real_write(fd, chunk[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        append_entry(log_path, "import", {"batch": "b3", "first_seq": 13, "last_seq": 14, "new": 2}, None, now=NOW)
    monkeypatch.undo()
    assert log_path.read_bytes() == data  # not a byte of the half entry is left
    append_entry(log_path, "import", {"batch": "b3", "first_seq": 13, "last_seq": 14, "new": 2}, None, now=NOW)
    log = verify_log(log_path.read_bytes(), anchor=NEW.bundle(NOW))
    assert [e.kind for e in log.entries][-2:] == ["unlock", "import"]
