"""intake.store's group commit, on both stores (SQLite, and PostgreSQL on a
real server the tests start): one transaction per group, written with a
few multi-row statements, envelopes numbered without gaps, repeats
answered with the original receipt, only the day kept, every receipt
verifying and every acknowledged envelope stored at its seq with its
bytes; a failed group acknowledging nothing; a submission queued too long
refused and never stored; a commit that outlasts the wait answered as
unconfirmed, and a resend getting its seq."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import tlog_verifier as tv
from store_backends import both_stores
from support import submission

import vault
from intake.store import CommitUnconfirmed, StorageUnavailable, Stored, today
from intake.store.sqlite import MAX_ROWS
from intake.tlog import TransparencyLog

pytestmark = both_stores


def _receipt(stored: Stored, log: TransparencyLog) -> dict:
    receipt = {"seq": stored.seq, "envelope_sha256": stored.envelope_sha256}
    return receipt | log.receipt_members(stored.seq, stored.log_size, stored.checkpoint)


def _append_in_background(store, envelope) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["stored"] = store.append(envelope)
        except StorageUnavailable as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_one_group_with_repeats_is_numbered_in_order_and_every_receipt_verifies(backend, tmp_path, ministry_key):
    log = backend.log(tmp_path)
    store = backend.store(log=log)
    log.sync()
    earlier = vault.seal(submission() + b" earlier", ministry_key.public_key)
    first = store.append(earlier)
    # More than SQLite writes in one statement, twice over (MAX_ROWS rows a statement).
    fresh = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(2 * MAX_ROWS + 45)]
    # Repeats inside the group and of an envelope stored before it.
    envs = [*fresh, fresh[3], fresh[MAX_ROWS + 7], earlier]
    results: dict[int, Stored] = {}
    with backend.hold_turn():  # another process commits: everything queues into one group
        threads = [
            threading.Thread(target=lambda i=i, e=e: results.__setitem__(i, store.append(e)))
            for i, e in enumerate(envs)
        ]
        for queued, t in enumerate(threads, 1):
            t.start()
            while len(store._pending) < queued:
                time.sleep(0.001)
    for t in threads:
        t.join()
    try:
        assert [results[i].seq for i in range(len(fresh))] == list(range(2, len(fresh) + 2))
        assert results[len(fresh)] == results[3] and results[len(fresh) + 1] == results[MAX_ROWS + 7]
        assert results[len(fresh) + 2].seq == first.seq == 1
        assert len({r.checkpoint for r in results.values()}) == 1  # one group, one signature
        stats = store.group_stats()
        assert (stats.groups, stats.submissions, stats.largest) == (2, 1 + len(envs), len(envs))
        assert 0 < stats.turn_seconds < 30
        key = tv.parse_key(log.verifier.encode())
        for i, env in enumerate(envs):
            assert tv.check_receipt(_receipt(results[i], log), env.canonical(), key).size == len(fresh) + 1
        rows = backend.query("SELECT seq, received_on, envelope, sha256 FROM envelopes ORDER BY seq")
        assert [(seq, bytes(blob)) for seq, _, blob, _ in rows] == [
            (i + 1, e.canonical()) for i, e in enumerate([earlier, *fresh])
        ]
        assert {day for _, day, _, _ in rows} == {today()}  # the day, nothing finer
        assert all(sha == hashlib.sha256(bytes(blob)).hexdigest() for _, _, blob, sha in rows)
        assert store.append(fresh[7]) == results[7]  # a resend later: the original receipt
    finally:
        store.close()
        log.close()


def test_a_failed_group_acknowledges_nothing_and_the_next_one_continues(backend, tmp_path, ministry_key):
    log = backend.log(tmp_path)
    store = backend.store(log=log)
    log.sync()
    try:
        a = store.append(vault.seal(submission() + b" a", ministry_key.public_key))
        backend.refuse_inserts("disk says no")
        with pytest.raises(StorageUnavailable, match="disk says no"):
            store.append(vault.seal(submission() + b" b", ministry_key.public_key))
        backend.allow_inserts()
        c = store.append(vault.seal(submission() + b" c", ministry_key.public_key))
    finally:
        store.close()
        log.close()
    assert (a.seq, c.seq) == (1, 2)
    assert backend.query("SELECT COUNT(*) FROM envelopes") == [(2,)]
    assert backend.query("SELECT size FROM tlog_checkpoint") == [(2,)]


def test_a_store_without_log_numbers_new_envelopes_and_repeats_keep_theirs(backend, ministry_key):
    store = backend.store()
    envs = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(3)]
    try:
        assert [store.append(e).seq for e in [*envs, envs[1]]] == [1, 2, 3, 2]
        assert [row[0] for row in store.rows_after(0)] == [1, 2, 3]
        assert [row[0] for row in store.rows_between(2, 3)] == [2, 3]
        assert (store.count(), store.last_seq()) == (3, 3)
        assert store.append(envs[0]).checkpoint == ""
    finally:
        store.close()


def test_a_submission_queued_too_long_is_refused_and_never_stored(backend, ministry_key):
    store = backend.store(wait_seconds=1.0)
    late = vault.seal(submission() + b" late", ministry_key.public_key)
    try:
        with backend.hold_turn():  # another process holds the commit turn and does not let go
            thread, outcome = _append_in_background(store, late)
            thread.join(timeout=10)
            assert not thread.is_alive()
            error = outcome["error"]
            assert type(error) is StorageUnavailable and "nothing was kept" in str(error)
        assert store.append(vault.seal(submission() + b" next", ministry_key.public_key)).seq == 1
        assert store.count() == 1
    finally:
        store.close()


def test_a_commit_that_outlasts_the_wait_is_unconfirmed_and_a_resend_gets_its_receipt(backend, ministry_key):
    store = backend.store(wait_seconds=1.0)
    envelope = vault.seal(submission() + b" slow", ministry_key.public_key)
    try:
        with backend.stall_commits():
            thread, outcome = _append_in_background(store, envelope)
            thread.join(timeout=10)
            assert not thread.is_alive()
            assert isinstance(outcome["error"], CommitUnconfirmed)
        deadline = time.monotonic() + 10
        while store.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.count() == 1
        assert store.append(envelope).seq == 1
        assert store.count() == 1
    finally:
        store.close()
