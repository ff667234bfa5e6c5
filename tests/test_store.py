"""intake.store's group commit: one transaction per group, written with a
few multi-row statements; every receipt still verifies and every
acknowledged envelope is stored at its seq with its bytes."""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import tlog_verifier as tv
from support import submission

import vault
from intake.store import CommitUnconfirmed, SQLiteLogStorage, SQLiteStore, StorageUnavailable, Stored
from intake.store.sqlite import MAX_ROWS
from intake.tlog import TransparencyLog, ensure_log_key


def _receipt(stored: Stored, log: TransparencyLog) -> dict:
    receipt = {"seq": stored.seq, "envelope_sha256": stored.envelope_sha256}
    return receipt | log.receipt_members(stored.seq, stored.log_size, stored.checkpoint)


def _logged_store(tmp_path: Path):
    signer, _ = ensure_log_key(tmp_path)
    db = tmp_path / "intake.sqlite"
    log = TransparencyLog(SQLiteLogStorage(db), signer)
    store = SQLiteStore(db, log=log)
    log.sync()
    return signer, db, log, store


def test_one_large_group_with_repeats_is_stored_in_order_and_every_receipt_verifies(tmp_path: Path, ministry_key):
    signer, db, log, store = _logged_store(tmp_path)
    earlier = vault.seal(submission() + b" earlier", ministry_key.public_key)
    first = store.append(earlier)
    fresh = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(2 * MAX_ROWS + 45)]
    # Repeats inside the group and of an envelope stored before it.
    envs = [*fresh, fresh[3], fresh[MAX_ROWS + 7], earlier]
    results: dict[int, Stored] = {}
    # Hold the commit lock as another server process would, so that every
    # submission queues up and the committer takes them as one group.
    with open(db.with_name(db.name + ".commit-lock"), "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        threads = [
            threading.Thread(target=lambda i=i, e=e: results.__setitem__(i, store.append(e)))
            for i, e in enumerate(envs)
        ]
        # One at a time, so the queue (and so the seqs) follow the list's
        # order; started all at once, the threads would queue in whatever
        # order the scheduler ran them. The committer takes the group only
        # once it has the lock.
        for queued, t in enumerate(threads, 1):
            t.start()
            while len(store._pending) < queued:
                time.sleep(0.001)
        fcntl.flock(other, fcntl.LOCK_UN)
        for t in threads:
            t.join()
    store.close()

    assert [results[i].seq for i in range(len(fresh))] == list(range(2, len(fresh) + 2))
    assert results[len(fresh)] == results[3] and results[len(fresh) + 1] == results[MAX_ROWS + 7]
    assert results[len(fresh) + 2].seq == first.seq == 1
    assert len({r.checkpoint for r in results.values()}) == 1  # one group, one signature
    key = tv.parse_key(signer.verifier().encode())
    for i, env in enumerate(envs):
        head = tv.check_receipt(_receipt(results[i], log), env.canonical(), key)
        assert head.size == len(fresh) + 1
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT seq, envelope, sha256 FROM envelopes ORDER BY seq").fetchall()
    conn.close()
    assert [(seq, bytes(blob)) for seq, blob, _ in rows] == [
        (i + 1, e.canonical()) for i, e in enumerate([earlier, *fresh])
    ]
    assert all(sha == hashlib.sha256(blob).hexdigest() for _, blob, sha in rows)
    log.close()


def test_a_failed_group_acknowledges_nothing_and_the_next_one_continues(tmp_path: Path, ministry_key):
    signer, db, log, store = _logged_store(tmp_path)
    a = store.append(vault.seal(submission() + b" a", ministry_key.public_key))
    conn = sqlite3.connect(db)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON envelopes BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    conn.commit()
    with pytest.raises(StorageUnavailable, match="disk says no"):
        store.append(vault.seal(submission() + b" b", ministry_key.public_key))
    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    c = store.append(vault.seal(submission() + b" c", ministry_key.public_key))
    store.close()
    assert (a.seq, c.seq) == (1, 2)
    assert conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0] == 2
    assert conn.execute("SELECT size FROM tlog_checkpoint").fetchone()[0] == 2
    conn.close()
    log.close()


def test_a_store_without_log_numbers_new_envelopes_and_repeats_keep_theirs(tmp_path: Path, ministry_key):
    store = SQLiteStore(tmp_path / "plain.sqlite")
    envs = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(3)]
    try:
        seqs = [store.append(e).seq for e in [*envs, envs[1]]]
        assert seqs == [1, 2, 3, 2]
        assert [row[0] for row in store.rows_after(0)] == [1, 2, 3]
        assert store.append(envs[0]).checkpoint == ""  # no log, no checkpoint
    finally:
        store.close()


def _append_in_background(store: SQLiteStore, envelope) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["stored"] = store.append(envelope)
        except StorageUnavailable as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_submission_queued_too_long_is_refused_and_never_stored(tmp_path: Path, ministry_key):
    db = tmp_path / "plain.sqlite"
    store = SQLiteStore(db, wait_seconds=1.0)
    late = vault.seal(submission() + b" late", ministry_key.public_key)
    try:
        # Another server process holds the commit turn and does not let go.
        with open(db.with_name(db.name + ".commit-lock"), "a+b") as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            thread, outcome = _append_in_background(store, late)
            thread.join(timeout=10)
            assert not thread.is_alive()
            error = outcome["error"]
            assert type(error) is StorageUnavailable and "nothing was kept" in str(error)
            fcntl.flock(other, fcntl.LOCK_UN)
        # Withdrawn, not merely abandoned: the committer never stores it.
        assert store.append(vault.seal(submission() + b" next", ministry_key.public_key)).seq == 1
        assert store.count() == 1
    finally:
        store.close()


def test_a_commit_that_outlasts_the_wait_is_unconfirmed_and_a_resend_gets_its_receipt(tmp_path: Path, ministry_key):
    db = tmp_path / "plain.sqlite"
    store = SQLiteStore(db, wait_seconds=1.0)
    envelope = vault.seal(submission() + b" slow", ministry_key.public_key)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        # The committer gets its turn but the database stays locked (a stalled
        # disk would look the same): the group is taken and cannot finish.
        blocker.execute("BEGIN IMMEDIATE")
        thread, outcome = _append_in_background(store, envelope)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert isinstance(outcome["error"], CommitUnconfirmed)
        blocker.execute("ROLLBACK")  # the disk recovers: the commit goes through
        deadline = time.monotonic() + 10
        while store.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.count() == 1
        assert store.append(envelope).seq == 1  # sending it again returns its seq, stored once
        assert store.count() == 1
    finally:
        blocker.close()
        store.close()
