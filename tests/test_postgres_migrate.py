"""`intake store migrate` and `intake export` on PostgreSQL: a migrated
store keeps its seqs, days, exports, tree and checkpoint; the same
envelopes then give byte-identical batches from SQLite and from
PostgreSQL; receipts from before the move still verify, with a
consistency proof to the checkpoints after it; the migration refuses to
run twice (from either side) and changes nothing when it fails."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
import tlog_verifier as tv
from pg_support import database_of
from support import one_line_error, run, submission

import vault
from intake import IntakeConfig
from intake.export import export_batch
from intake.keyring import add_bundle
from intake.store import StorageUnavailable, open_log_storage, open_store
from intake.tlog import TransparencyLog, ensure_log_key, load_log_key
from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station


def _intake(config: IntakeConfig, ministry_key) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    ensure_log_key(config.data_dir)


def _append(config: IntakeConfig, envelopes: list[vault.Envelope]) -> list[dict]:
    """Store `envelopes` through the intake's store and log; their receipts."""
    log = TransparencyLog(open_log_storage(config), load_log_key(config.data_dir))
    store = open_store(config, log)
    try:
        log.sync()
        receipts = []
        for env in envelopes:
            stored = store.append(env)
            receipts.append(
                {"seq": stored.seq, "envelope_sha256": stored.envelope_sha256}
                | log.receipt_members(stored.seq, stored.log_size, stored.checkpoint)
            )
        return receipts
    finally:
        store.close()
        log.close()


def _seal(ministry_key, n: int, tag: str) -> list[vault.Envelope]:
    return [vault.seal(submission() + f" {tag} {i}".encode(), ministry_key.public_key) for i in range(n)]


def test_a_migrated_store_exports_the_same_bytes_as_sqlite_and_its_receipts_still_verify(
    tmp_path, ministry_key, pg_cluster, pg_url
):
    lite = IntakeConfig(data_dir=tmp_path / "lite")
    _intake(lite, ministry_key)
    before = _seal(ministry_key, 40, "before")
    old_receipts = _append(lite, before[:25])
    assert export_batch(lite, tmp_path / "lite-1.batch").count == 25  # an export recorded before the move
    _append(lite, before[25:])
    shutil.copytree(lite.data_dir, tmp_path / "moved")  # the host that moves to PostgreSQL
    moved = IntakeConfig(data_dir=tmp_path / "moved", store_url=pg_url)

    proc = run("intake", "store", "migrate", "--data", moved.data_dir, "--to", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "migrated 40 envelopes (seq 1..40), " in proc.stdout and "1 recorded exports" in proc.stdout
    rows = pg_cluster.sql("SELECT seq, received_on, envelope FROM envelopes ORDER BY seq", database_of(pg_url))
    store = open_store(lite)
    try:
        assert [(s, d, bytes(e)) for s, d, e in rows] == list(store.rows_after(0))
    finally:
        store.close()

    # The same later submissions on both, in the same order: the same batch, byte for byte.
    after = _seal(ministry_key, 30, "after")
    _append(lite, after)
    new_receipts = _append(moved, after)
    assert [r["seq"] for r in new_receipts] == list(range(41, 71))
    from_lite = export_batch(lite, tmp_path / "lite-2.batch")
    from_pg = export_batch(moved, tmp_path / "pg-2.batch")
    assert (from_pg.first_seq, from_pg.last_seq) == (26, 70)  # the export recorded in SQLite moved too
    assert (tmp_path / "pg-2.batch").read_bytes() == (tmp_path / "lite-2.batch").read_bytes()
    assert from_pg.sha256 == from_lite.sha256

    # Receipts from before the move verify, and the log after it extends theirs.
    key = tv.parse_key(load_log_key(moved.data_dir).verifier().encode())
    log = TransparencyLog(open_log_storage(moved), load_log_key(moved.data_dir))
    try:
        size, note = log.latest()
        latest = tv.open_checkpoint(note, key)
        assert size == 70
        for receipt, env in zip(old_receipts, before, strict=False):
            head = tv.check_receipt(receipt, env.canonical(), key)
            tv.check_consistency(head, latest, log.consistency_proof(head.size, latest.size))
        for receipt, env in zip(new_receipts, after, strict=True):
            tv.check_receipt(receipt, env.canonical(), key)
    finally:
        log.close()

    # The keyholder takes the PostgreSQL batches as it takes SQLite's.
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    for path in (tmp_path / "lite-1.batch", tmp_path / "pg-2.batch"):
        assert import_batch(v, path, accept_unknown_keys=True).log is not None
    assert v.envelope_count() == 70


def test_the_migration_refuses_to_run_twice_and_the_sqlite_store_takes_no_more(tmp_path, ministry_key, pg_url):
    lite = IntakeConfig(data_dir=tmp_path / "lite")
    _intake(lite, ministry_key)
    _append(lite, _seal(ministry_key, 5, "x"))
    assert run("intake", "store", "migrate", "--data", lite.data_dir, "--to", pg_url).returncode == 0

    line = one_line_error(run("intake", "store", "migrate", "--data", lite.data_dir, "--to", pg_url))
    assert "migrated to PostgreSQL before" in line
    other = IntakeConfig(data_dir=tmp_path / "other")
    _intake(other, ministry_key)
    _append(other, _seal(ministry_key, 2, "y"))
    line = one_line_error(run("intake", "store", "migrate", "--data", other.data_dir, "--to", pg_url))
    assert "was migrated into before" in line and "not changed" in line
    shared = open_store(IntakeConfig(data_dir=other.data_dir, store_url=pg_url))
    try:
        assert shared.count() == 5
    finally:
        shared.close()

    # An SQLite intake left running after the move refuses, rather than keeping what PostgreSQL never sees.
    store = open_store(lite)
    try:
        with pytest.raises(StorageUnavailable, match="migrated to PostgreSQL"):
            store.append(_seal(ministry_key, 1, "late")[0])
        assert store.count() == 5
    finally:
        store.close()


def test_a_failed_migration_changes_nothing_on_either_side(tmp_path, ministry_key, pg_cluster, pg_url):
    lite = IntakeConfig(data_dir=tmp_path / "lite")
    _intake(lite, ministry_key)
    _append(lite, _seal(ministry_key, 3, "x"))
    gone = f"postgresql:///nowhere?host={tmp_path}&port=1&user=dvr"
    line = one_line_error(run("intake", "store", "migrate", "--data", lite.data_dir, "--to", gone))
    assert "nothing was migrated" in line

    # The database refuses mid-copy (a row that breaks a constraint): rolled back, SQLite untouched.
    pg_cluster.sql(
        "CREATE TABLE envelopes (seq bigint PRIMARY KEY CHECK (seq < 3), received_on text NOT NULL,"
        " kid text NOT NULL, envelope bytea NOT NULL, sha256 text NOT NULL UNIQUE)",
        database_of(pg_url),
    )
    line = one_line_error(run("intake", "store", "migrate", "--data", lite.data_dir, "--to", pg_url))
    assert "nothing was migrated" in line
    assert pg_cluster.sql("SELECT COUNT(*) FROM envelopes", database_of(pg_url)) == [(0,)]
    assert pg_cluster.sql("SELECT COUNT(*) FROM intake_meta", database_of(pg_url)) == [(0,)]
    conn = sqlite3.connect(lite.db_path)
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone() == (0,)
    conn.close()
    assert _append(lite, _seal(ministry_key, 1, "still"))[0]["seq"] == 4  # SQLite goes on as before

    (lite.data_dir / "log-key").unlink()
    line = one_line_error(run("intake", "store", "migrate", "--data", lite.data_dir, "--to", pg_url))
    assert "no log key" in line
